//! One token rotation per client at a time, in this process.
//!
//! [`TokenStore::rotate`](crate::store::TokenStore::rotate)'s default (load, compare,
//! save) spans two awaits, so two refreshes of one refresh token could both read the old
//! token and both win. Holding this lock around a rotation serialises them: the second
//! one finds the token already rotated and is treated as re-use. It cannot order the
//! rotations of two instances; only a store with an atomic compare-and-swap can.

use std::{
    collections::HashMap,
    future::poll_fn,
    sync::{Mutex, MutexGuard},
    task::{Poll, Waker},
};

/// The clients whose rotation is under way, and who waits for each.
#[derive(Debug, Default)]
pub(crate) struct RotationLocks {
    held: Mutex<HashMap<String, Vec<Waker>>>,
}

/// Held while one client's pair is rotated; releasing it wakes the next in line.
pub(crate) struct RotationGuard<'a> {
    locks: &'a RotationLocks,
    client_id: String,
}

impl RotationLocks {
    fn held(&self) -> MutexGuard<'_, HashMap<String, Vec<Waker>>> {
        // Every update is one insert or removal: a poisoned map is still consistent.
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until no other rotation of `client_id` is under way, then holds it.
    pub(crate) async fn lock(&self, client_id: &str) -> RotationGuard<'_> {
        poll_fn(|cx| {
            let mut held = self.held();
            match held.get_mut(client_id) {
                Some(waiters) => {
                    if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
                        waiters.push(cx.waker().clone());
                    }
                    Poll::Pending
                }
                None => {
                    held.insert(client_id.to_owned(), Vec::new());
                    Poll::Ready(())
                }
            }
        })
        .await;
        RotationGuard {
            locks: self,
            client_id: client_id.to_owned(),
        }
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.held().is_empty()
    }
}

impl Drop for RotationGuard<'_> {
    fn drop(&mut self) {
        let waiters = self.locks.held().remove(&self.client_id).unwrap_or_default();
        // Every waiter polls again; the first to run takes the lock, the others wait anew.
        for waker in waiters {
            waker.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::{
            Arc,
            atomic::{AtomicUsize, Ordering},
        },
        time::Duration,
    };

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn one_holder_per_client_at_a_time() {
        let locks = Arc::new(RotationLocks::default());
        let inside = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (locks, inside, most) = (locks.clone(), inside.clone(), most.clone());
                tokio::spawn(async move {
                    let _guard = locks.lock("c").await;
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    inside.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 1);
        assert!(locks.is_empty(), "a released lock leaves nothing behind");
    }

    #[tokio::test]
    async fn other_clients_do_not_wait() {
        let locks = RotationLocks::default();
        let _a = locks.lock("a").await;
        let b = tokio::time::timeout(Duration::from_secs(5), locks.lock("b")).await;
        assert!(b.is_ok());
    }

    #[tokio::test]
    async fn a_cancelled_waiter_does_not_block_the_next() {
        let locks = RotationLocks::default();
        let first = locks.lock("c").await;
        let waiting = tokio::time::timeout(Duration::from_millis(10), locks.lock("c")).await;
        assert!(waiting.is_err(), "the lock is held");
        drop(first);
        let again = tokio::time::timeout(Duration::from_secs(5), locks.lock("c")).await;
        assert!(again.is_ok());
    }
}
