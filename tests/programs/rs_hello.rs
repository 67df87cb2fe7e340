// A Rust std program, static (`+crt-static`, `relocation-model=static`):
// std start-up probes fds 0-2 with poll, reads the environment, exits 7.
fn main() {
    let v: Vec<u64> = (1..=10).collect();
    let args: Vec<String> = std::env::args().collect();
    println!("rust says {} sum={} args={:?}", std::env::var("HOME").is_ok(), v.iter().sum::<u64>(), &args[1..]);
    std::process::exit(7);
}
