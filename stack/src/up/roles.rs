//! What each port of `stack up` is for: the components' roles, each with
//! the port the repository's configs give it and the flag that changes it.

/// One of the service instances `stack up --replicas N` starts, numbered
/// from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Replica(u8);

/// Most service instances `--replicas` may ask for.
pub const MAX_REPLICAS: u8 = 16;

/// Component names of the replicas when there are several.
const REPLICA_NAMES: [&str; MAX_REPLICAS as usize] = [
    "service-1",
    "service-2",
    "service-3",
    "service-4",
    "service-5",
    "service-6",
    "service-7",
    "service-8",
    "service-9",
    "service-10",
    "service-11",
    "service-12",
    "service-13",
    "service-14",
    "service-15",
    "service-16",
];

impl Replica {
    /// The only instance when there are no replicas.
    pub const FIRST: Replica = Replica(1);

    /// Replicas 1 to `count` (at most [`MAX_REPLICAS`]).
    pub fn all(count: u8) -> impl Iterator<Item = Replica> {
        (1..=count.min(MAX_REPLICAS)).map(Replica)
    }

    /// Its component name: `service` alone, else `service-<n>`.
    pub fn name(self, count: u8) -> &'static str {
        if count <= 1 {
            "service"
        } else {
            REPLICA_NAMES[usize::from(self.0 - 1)]
        }
    }

    /// Its offset from the first instance's port.
    pub(super) fn offset(self) -> u16 {
        u16::from(self.0 - 1)
    }
}

/// A port role: the contract's default port, and the flag that overrides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Service(Replica),
    Inbox,
    NodeExporter,
    Prometheus,
    Alertmanager,
    Grafana,
    OtlpGrpc,
    OtlpHttp,
    CollectorMetrics,
    Spanmetrics,
    CollectorHealth,
    TempoHttp,
    /// Tempo's OTLP receiver. Internal (only the Collector dials it) and
    /// always a free port: natively it cannot share 4317 with the Collector.
    TempoOtlp,
    /// Tempo's internal gRPC server; always a free port.
    TempoGrpc,
}

impl Role {
    /// The port the repository's configs (and compose) use for this role.
    pub fn default_port(self) -> u16 {
        match self {
            Role::Service(replica) => 5000 + replica.offset(),
            Role::Inbox => 5080,
            Role::NodeExporter => 9100,
            Role::Prometheus => 9090,
            Role::Alertmanager => 9093,
            Role::Grafana => 3000,
            Role::OtlpGrpc => 4317,
            Role::OtlpHttp => 4318,
            Role::CollectorMetrics => 8888,
            Role::Spanmetrics => 8889,
            Role::CollectorHealth => 13133,
            Role::TempoHttp => 3200,
            Role::TempoOtlp => 4317,
            Role::TempoGrpc => 9095,
        }
    }

    pub(super) fn flag(self) -> &'static str {
        match self {
            Role::Service(_) => "--service-port",
            Role::Inbox => "--inbox-port",
            Role::NodeExporter => "--node-exporter-port",
            Role::Prometheus => "--prometheus-port",
            Role::Alertmanager => "--alertmanager-port",
            Role::Grafana => "--grafana-port",
            Role::OtlpGrpc => "--otlp-grpc-port",
            Role::OtlpHttp => "--otlp-http-port",
            Role::CollectorMetrics => "--collector-metrics-port",
            Role::Spanmetrics => "--spanmetrics-port",
            Role::CollectorHealth => "--collector-health-port",
            Role::TempoHttp => "--tempo-port",
            Role::TempoOtlp | Role::TempoGrpc => "an internal Tempo port",
        }
    }

    /// The role whose contract port is `port`, if any.
    pub fn for_default_port(port: u16) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.default_port() == port)
    }

    /// The roles whose ports the configs name, for remapping. Tempo's
    /// internal ports are left out: its OTLP port is the Collector's 4317.
    const ALL: [Role; 12] = [
        Role::Service(Replica::FIRST),
        Role::Inbox,
        Role::NodeExporter,
        Role::Prometheus,
        Role::Alertmanager,
        Role::Grafana,
        Role::OtlpGrpc,
        Role::OtlpHttp,
        Role::CollectorMetrics,
        Role::Spanmetrics,
        Role::CollectorHealth,
        Role::TempoHttp,
    ];
}
