//! `log` backend writing to the console.

use log::{LevelFilter, Metadata, Record};

struct ConsoleLogger;

impl log::Log for ConsoleLogger {
    fn enabled(&self, _: &Metadata) -> bool {
        true
    }
    fn log(&self, r: &Record) {
        crate::console::println(format_args!(
            "[{:<5} {}] {}",
            r.level(),
            r.target(),
            r.args()
        ));
    }
    fn flush(&self) {}
}

static LOGGER: ConsoleLogger = ConsoleLogger;

pub(crate) fn init() {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(LevelFilter::Info);
}
