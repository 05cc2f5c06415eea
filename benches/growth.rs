//! The layer's cost as the number of live tokens grows, and the token cache's memory.
//!
//! `cargo bench --bench growth` (BENCHMARKS.md, "As the number of live tokens grows", pins
//! it with `taskset -c 1`). Two parts, in this order:
//!
//! 1. **Memory** (printed as a table before criterion starts): a counting global allocator
//!    (counting only while switched on, so the timings below pay one relaxed load per
//!    allocation) measures the heap that a stateless `FastAuth`'s token cache holds after
//!    N distinct valid tokens went through its layer, for the default capacity and for one
//!    that holds them all, then after all of them were sent a second time (2×10⁶ requests);
//!    the resident set size (`/proc/self/statm`) beside it.
//! 2. **Time** (criterion): the layer's per-request cost with N = 1, 10³, 10⁵ and 10⁶ live
//!    tokens — every request carries one of N valid tokens (distinct clients), in a random
//!    order fixed beforehand (a permutation, cycled) — stateless and stored + memory store
//!    (one store holding the pairs of all 10⁶ clients), each with the token cache off, at
//!    its default capacity and at a capacity that holds every token; each benchmark starts
//!    with one pass over its N tokens (which fills the cache) before criterion measures. The
//!    baseline sends the same
//!    requests into the inner service without the layer.
//!
//! Times are the benchmark thread's CPU time (`common/cpu_time.rs`): the machine is shared.
//! `--test` (as `cargo bench -- --test` passes it) shrinks N to 10³; a criterion filter
//! skips the memory table, and `cargo bench --bench growth -- heap` runs the table alone.

use std::{
    alloc::{GlobalAlloc, Layout, System},
    convert::Infallible,
    future::Future,
    pin::pin,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicIsize, Ordering::Relaxed},
    },
    task::{Context, Poll, Waker},
    time::Duration,
};

use common::cpu_time::ThreadCpuTime;
use criterion::Criterion;
use fastauth::{FastAuth, FastAuthBuilder, body::FullBody, store::MemoryTokenStore};
use http::{HeaderName, HeaderValue, Request, Response};
use tower::{Layer, Service};

mod common {
    pub mod cpu_time;
}

const KEY: &str = "k0Xq0C6yJ5qNn8V9i1yTgG1o8Zt2dJ0c3mK5vS7wX9A=";
const ACCESS_TOKEN: HeaderName = HeaderName::from_static("access-token");
/// A capacity that holds 10⁶ tokens (each of the 16 shards gets 65,536 slots, ~62,500
/// tokens on average).
const LARGE_CACHE: usize = 1 << 20;

/// Counts live heap bytes and blocks while `COUNTING` is on.
struct CountingAllocator;

static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);
static LIVE_BLOCKS: AtomicIsize = AtomicIsize::new(0);

fn count(bytes: isize, blocks: isize) {
    if COUNTING.load(Relaxed) {
        LIVE_BYTES.fetch_add(bytes, Relaxed);
        LIVE_BLOCKS.fetch_add(blocks, Relaxed);
    }
}

// SAFETY: every call is forwarded to `System` unchanged; only counters are updated.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is `System::alloc`'s.
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            count(layout.size() as isize, 1);
        }
        pointer
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as above.
        let pointer = unsafe { System.alloc_zeroed(layout) };
        if !pointer.is_null() {
            count(layout.size() as isize, 1);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        count(-(layout.size() as isize), -1);
        // SAFETY: as above.
        unsafe { System.dealloc(pointer, layout) }
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above.
        let new = unsafe { System.realloc(pointer, layout, new_size) };
        if !new.is_null() {
            count(new_size as isize - layout.size() as isize, 0);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Polls a future that is expected to be ready at once (no I/O is involved).
fn now<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the benchmarked future was not ready"),
    }
}

fn fastauth(store: Option<Arc<MemoryTokenStore>>, token_cache_capacity: usize) -> FastAuth {
    let builder = FastAuth::builder()
        .ignore_environment()
        .token_cache_capacity(token_cache_capacity)
        .cryptography_key(KEY)
        .master_token("master")
        .master_paths(["/admin", "/auth/token/new"])
        .access_paths(["/api", "/ws", "/v1/*/items"]);
    match store {
        None => builder.stateless(),
        Some(store) => builder.store(store),
    }
    .build()
    .unwrap()
}

type Inner =
    tower::util::ServiceFn<fn(Request<()>) -> std::future::Ready<Result<Response<FullBody>, Infallible>>>;

fn inner() -> Inner {
    fn answer(_request: Request<()>) -> std::future::Ready<Result<Response<FullBody>, Infallible>> {
        std::future::ready(Ok(Response::new(FullBody::default())))
    }
    tower::service_fn(answer as fn(_) -> _)
}

/// Every request carries a header value prepared beforehand, as a server hands the layer a
/// header parsed from its read buffer.
fn request(token: &HeaderValue) -> Request<()> {
    Request::get("/api/items/42")
        .header(ACCESS_TOKEN, token.clone())
        .body(())
        .unwrap()
}

fn serve<S, B>(service: &mut S, token: &HeaderValue)
where
    S: Service<Request<()>, Response = Response<B>, Error = Infallible>,
{
    let response = now(service.call(request(token))).unwrap();
    assert_eq!(response.status(), 200);
}

/// A random permutation of `0..n` (splitmix64, fixed seed: the same order every run).
fn random_order(n: usize) -> Vec<u32> {
    let mut state = 0x5eed_u64;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut order: Vec<u32> = (0..n as u32).collect();
    for i in (1..n).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    order
}

fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// The token cache's heap after N distinct tokens went through a stateless layer.
fn memory(tokens: &[HeaderValue], steps: &[usize]) {
    println!(
        "token cache memory (stateless layer, {}-byte tokens, heap counted by the bench's global allocator)",
        tokens[0].len()
    );
    println!();
    println!("| capacity | tokens sent | heap held | blocks held | heap per token sent | RSS growth |");
    println!("|---|---|---|---|---|---|");
    for capacity in [FastAuthBuilder::DEFAULT_TOKEN_CACHE_CAPACITY, LARGE_CACHE] {
        // Whatever the first requests initialise once per process is not the cache's.
        let mut warm = fastauth(None, capacity).layer().layer(inner());
        serve(&mut warm, &tokens[0]);
        let mut service = fastauth(None, capacity).layer().layer(inner());
        let (bytes, blocks, resident) = (
            LIVE_BYTES.load(Relaxed),
            LIVE_BLOCKS.load(Relaxed),
            resident_bytes(),
        );
        COUNTING.store(true, Relaxed);
        let mut sent = 0;
        for &step in steps {
            // Past the last token, the tokens are sent again in the same order.
            for at in sent..step {
                serve(&mut service, &tokens[at % tokens.len()]);
            }
            sent = step;
            let held = LIVE_BYTES.load(Relaxed) - bytes;
            println!(
                "| {capacity} | {step} | {:.1} MiB | {} | {:.0} B | {:.1} MiB |",
                held as f64 / 1048576.0,
                LIVE_BLOCKS.load(Relaxed) - blocks,
                held as f64 / step as f64,
                (resident_bytes() as f64 - resident as f64) / 1048576.0,
            );
        }
        COUNTING.store(false, Relaxed);
        drop(service);
    }
    println!();
}

fn growth(
    c: &mut Criterion<ThreadCpuTime>,
    tokens: &[HeaderValue],
    store: &Arc<MemoryTokenStore>,
    sizes: &[usize],
) {
    for &n in sizes {
        let order = random_order(n);
        let live: Vec<&HeaderValue> = order.iter().map(|&i| &tokens[i as usize]).collect();
        let mut group = c.benchmark_group(format!("live tokens {n}"));
        let mut bench = |name: &str, service: &mut dyn FnMut(&HeaderValue)| {
            let mut at = 0;
            let mut filled = false;
            group.bench_function(name, |b| {
                // Criterion calls this closure again for each sample; and not at all for a
                // benchmark its filter leaves out, which then fills nothing.
                if !filled {
                    // One pass over the live tokens, in the measured order: fills the
                    // token cache (and warms up the baseline).
                    for token in &live {
                        service(token);
                    }
                    filled = true;
                }
                b.iter(|| {
                    service(live[at]);
                    at += 1;
                    if at == live.len() {
                        at = 0;
                    }
                })
            });
        };
        let mut baseline = inner();
        bench("baseline: inner service alone", &mut |token| {
            serve(&mut baseline, token)
        });
        for (mode, store) in [("stateless", None), ("stored + memory store", Some(store))] {
            for (cache, capacity) in [
                ("cache off", 0),
                (
                    "default cache (4,096)",
                    FastAuthBuilder::DEFAULT_TOKEN_CACHE_CAPACITY,
                ),
                ("cache 2^20", LARGE_CACHE),
            ] {
                let mut service = fastauth(store.cloned(), capacity).layer().layer(inner());
                bench(&format!("{mode}, {cache}"), &mut |token| {
                    serve(&mut service, token)
                });
            }
        }
        group.finish();
    }
}

fn main() {
    let test = std::env::args().any(|arg| arg == "--test" || arg == "--list");
    let sizes: &[usize] = if test {
        &[1, 1_000]
    } else {
        &[1, 1_000, 100_000, 1_000_000]
    };
    let memory_steps: &[usize] = if test {
        &[1_000]
    } else {
        &[1_000, 4_096, 10_000, 100_000, 1_000_000, 2_000_000]
    };
    let most = sizes.iter().copied().max().unwrap_or(1);

    // The pairs of `most` clients, in one store that the stored-mode layers share; their
    // access tokens verify in stateless mode too (the same key).
    let store = Arc::new(MemoryTokenStore::new());
    let issuer = fastauth(Some(store.clone()), 0);
    let tokens: Vec<HeaderValue> = (0..most)
        .map(|i| {
            let pair = now(issuer.issue(Some(&format!("bench-client-{i}")))).unwrap();
            HeaderValue::try_from(pair.access_token).unwrap()
        })
        .collect();

    // A filter (criterion's positional argument) skips the memory table, so that
    // `cargo bench --bench growth -- 'live tokens 1000/'` measures time alone; `heap`, which
    // names no benchmark, runs the table alone.
    let filter = std::env::args().skip(1).find(|arg| !arg.starts_with('-'));
    if !test && filter.is_none_or(|filter| filter == "heap") {
        memory(&tokens, memory_steps);
    }
    let mut criterion = Criterion::default()
        .with_measurement(ThreadCpuTime)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
        .configure_from_args();
    growth(&mut criterion, &tokens, &store, sizes);
    criterion.final_summary();
}
