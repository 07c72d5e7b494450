//! `drctl health`: asks a running `drctl watch --metrics-addr` whether it
//! is alive (or ready), for container health checks in an image that has no
//! shell or HTTP client.

use clap::Args;

use super::exit;

#[derive(Debug, Args)]
pub struct HealthArgs {
    /// Where the watch serves its metrics (its --metrics-addr).
    #[arg(long, default_value = "127.0.0.1:9464", env = "DRCTL_HEALTH_ADDR")]
    pub addr: std::net::SocketAddr,
    /// Ask /readyz (a pass has succeeded) instead of /healthz (the process
    /// answers).
    #[arg(long)]
    pub ready: bool,
    /// How long to wait for the answer (s, m).
    #[arg(long, default_value = "3s", value_parser = super::parse_wait)]
    pub timeout: std::time::Duration,
}

pub fn run(args: &HealthArgs) -> anyhow::Result<u8> {
    let path = if args.ready { "/readyz" } else { "/healthz" };
    match crate::metrics::probe(args.addr, path, args.timeout) {
        Ok(200) => {
            println!("{path} on {}: 200", args.addr);
            Ok(exit::OK)
        }
        Ok(status) => {
            eprintln!("drctl: {path} on {} answered {status}", args.addr);
            Ok(exit::ERROR)
        }
        Err(error) => {
            eprintln!("drctl: {path} on {}: {error}", args.addr);
            Ok(exit::ERROR)
        }
    }
}
