//! The ports `stack up` chooses stay reserved until it releases them to the
//! programs it starts.
//!
//! A test binary of its own: the tests of a binary run in parallel, and one
//! that binds port 0 right after the release may be given the port just
//! freed, which made this check fail now and then.

use std::io::ErrorKind;
use std::net::TcpListener;

use clap::Parser as _;
use stack::cli::{Cli, Command};
use stack::up::ports::Ports;
use stack::up::roles::{Replica, Role};

#[test]
fn chosen_ports_stay_reserved_until_released() {
    let Command::Up(args) = Cli::parse_from(["stack", "up", "--service-port", "0"]).command else {
        unreachable!("the up subcommand")
    };
    let role = Role::Service(Replica::FIRST);
    let (ports, mut reserved) = Ports::choose(&args, &[role]).expect("choose");
    let addr = ports.addr(role).expect("service port");
    let taken = TcpListener::bind(addr).expect_err("still reserved");
    assert_eq!(taken.kind(), ErrorKind::AddrInUse);
    reserved.release(&[role]);
    TcpListener::bind(addr).expect("free once released");
}
