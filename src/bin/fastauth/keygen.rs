//! `fastauth keygen`.

use fastauth::crypto::generate_cryptography_key;

use crate::{
    KeygenArgs,
    env_file::{self, EnvFileError, Outcome},
    failure::Failure,
};

pub fn run(args: KeygenArgs) -> Result<(), Failure> {
    let key = generate_cryptography_key();
    let Some(path) = args.env_file else {
        println!("{key}");
        return Ok(());
    };
    let shown = path.display();
    let name = &args.name;
    // The key itself is not printed: it is in the file, and terminals get logged.
    match env_file::set(&path, name, &key, args.force) {
        Ok(Outcome::Created) => println!("created {shown} with {name}"),
        Ok(Outcome::Appended) => println!("added {name} to {shown}"),
        Ok(Outcome::Filled) => println!("set {name} in {shown}"),
        Ok(Outcome::Replaced) => {
            println!("replaced {name} in {shown}");
            eprintln!("fastauth: note: tokens signed with the previous {name} no longer verify");
        }
        Err(EnvFileError::Exists) => {
            return Err(Failure::Refused(format!(
                "{shown} already sets {name}; the file is unchanged \
                 (pass --force to replace it: tokens signed with the old key stop verifying)"
            )));
        }
        Err(EnvFileError::Io(e)) => return Err(Failure::Io(format!("cannot update {shown}: {e}"))),
    }
    Ok(())
}
