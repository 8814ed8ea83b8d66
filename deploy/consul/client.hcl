# /etc/consul.d/consul.hcl on a Granary member's host: a Consul client agent
# that joins the cluster's three (or five) servers. The member talks to it
# on 127.0.0.1:8500; Consul's HTTP check reaches the member's /healthz.
datacenter = "dc1"
data_dir   = "/var/lib/consul"
server     = false

# The address the servers and the other agents reach this host on (gossip
# and RPC); the HTTP API stays on loopback, for the local member only.
bind_addr   = "10.0.0.1"
client_addr = "127.0.0.1"
retry_join  = ["10.0.0.11", "10.0.0.12", "10.0.0.13"]

# A client agent leaves the cluster on SIGTERM: its member's session ends at
# once and the member fences itself, as it does when the agent dies.
leave_on_terminate = true

acl {
  enabled        = true
  default_policy = "deny"
  tokens {
    # The agent's own token (node write for this host). The member brings
    # its own in CONSUL_HTTP_TOKEN (membership.NodePolicy).
    agent = "<agent token>"
  }
}

# Gossip encryption and TLS for RPC, as Consul's deployment guide says.
encrypt = "<consul keygen>"
tls {
  defaults {
    ca_file         = "/etc/consul.d/tls/consul-agent-ca.pem"
    verify_incoming = false
    verify_outgoing = true
  }
  internal_rpc {
    verify_server_hostname = true
  }
}
auto_encrypt {
  tls = true
}

# Granary's members open about 70 connections to their agent (measured:
# docs/operators.md); Consul's default limit per client address is 200.
limits {
  http_max_conns_per_client = 400
}
