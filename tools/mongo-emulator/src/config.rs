//! Command-line configuration.

use std::net::IpAddr;

/// Default replica set name reported by `hello`.
pub const DEFAULT_SET_NAME: &str = "rs0";
/// Default number of change events kept per collection.
pub const DEFAULT_HISTORY: usize = 100_000;

/// Usage text printed by `--help`.
pub const USAGE: &str = "\
mongo-emulator: a dev-only MongoDB wire-protocol emulator for tests (not a database).

Keeps collections, indexes and change-stream history in memory and speaks just enough of the
MongoDB protocol for the official drivers' CRUD basics, indexes and change streams, plus
fault-injection commands (emulatorDropConnections, emulatorRefuseConnections, emulatorStatus).

USAGE:
    mongo-emulator [--port P] [--host H] [--standalone] [--replica-set NAME]
                   [--history N] [--verbose]

OPTIONS:
    --port P            TCP port to listen on; 0 picks a free port (default 27017)
    --host H            IP address to bind (default 127.0.0.1)
    --standalone        Report a standalone server in hello (no setName/hosts);
                        change streams are then refused like a real standalone does
    --replica-set NAME  Replica set name reported in hello (default rs0)
    --history N         Change events kept per collection (default 100000)
    --verbose           Log connections and commands to stderr
    -h, --help          Print this help

The first line printed on stdout is the connection URI, e.g.
    mongodb://127.0.0.1:PORT/?replicaSet=rs0&directConnection=true
The emulator then runs until it is killed.
";

/// Emulator settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Address to bind.
    pub host: IpAddr,
    /// Port to bind (0 = any free port).
    pub port: u16,
    /// Behave like a standalone server instead of a replica-set primary.
    pub standalone: bool,
    /// Replica set name (ignored when `standalone`).
    pub set_name: String,
    /// Maximum number of change events kept per collection.
    pub history: usize,
    /// Log commands to stderr.
    pub verbose: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            host: IpAddr::from([127, 0, 0, 1]),
            port: 27017,
            standalone: false,
            set_name: DEFAULT_SET_NAME.to_owned(),
            history: DEFAULT_HISTORY,
            verbose: false,
        }
    }
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cli {
    /// Run the emulator.
    Run(Config),
    /// Print usage and exit.
    Help,
}

/// Parses command-line arguments (without the program name).
pub fn parse_args<I, S>(args: I) -> Result<Cli, String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut config = Config::default();
    let mut args = args.into_iter().map(Into::into);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline.clone().or_else(|| args.next()).ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Cli::Help),
            "--port" => {
                let v = value("--port")?;
                config.port = v.parse().map_err(|_| format!("invalid port: {v}"))?;
            }
            "--host" => {
                let v = value("--host")?;
                config.host = if v == "localhost" {
                    IpAddr::from([127, 0, 0, 1])
                } else {
                    v.parse().map_err(|_| format!("invalid IP address: {v}"))?
                };
            }
            "--replica-set" => {
                let v = value("--replica-set")?;
                if v.is_empty() {
                    return Err("--replica-set needs a non-empty name".into());
                }
                config.set_name = v;
            }
            "--history" => {
                let v = value("--history")?;
                config.history = v
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("invalid history size: {v}"))?;
            }
            "--standalone" => config.standalone = true,
            "--verbose" | "-v" => config.verbose = true,
            other => return Err(format!("unknown argument: {other} (see --help)")),
        }
    }
    Ok(Cli::Run(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flags() {
        let cli = parse_args(["--port", "0", "--standalone", "--verbose", "--history=10"]);
        let Ok(Cli::Run(c)) = cli else {
            panic!("expected run config");
        };
        assert_eq!(c.port, 0);
        assert!(c.standalone && c.verbose);
        assert_eq!(c.history, 10);
        assert_eq!(parse_args(["--help"]), Ok(Cli::Help));
        assert!(parse_args(["--port"]).is_err());
        assert!(parse_args(["--bogus"]).is_err());
        assert!(parse_args(["--port", "99999"]).is_err());
    }
}
