package node_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/cluster/membership"
	"github.com/granary-rt/granary/cluster/node"
	"github.com/granary-rt/granary/internal/testcluster"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testutil"
	consul "github.com/hashicorp/consul/api"
)

// TestConsulACLPolicy: on Consul with ACLs denying by default, members
// whose token carries exactly membership.NodePolicy (the README's
// policy) run tasks and grains; a member without a token fails to start
// at once, saying Consul refused it, instead of retrying forever.
func TestConsulACLPolicy(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{ACLToken: "root-token-for-tests"})
	acl := agent.Client().ACL()
	policy, _, err := acl.PolicyCreate(&consul.ACLPolicy{Name: "granary-node", Rules: membership.NodePolicy(testcluster.Cluster)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := acl.TokenCreate(&consul.ACLToken{Policies: []*consul.ACLTokenPolicyLink{{ID: policy.ID}}}, nil)
	if err != nil {
		t.Fatal(err)
	}

	denied := testcluster.Config(t, agent.HTTPAddr(), appKinds(t), "no-token")
	n, err := node.New(denied)
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	err = n.Start(testutil.Context(t, 60*time.Second))
	if err == nil || !strings.Contains(err.Error(), "Permission denied") || time.Since(began) > 15*time.Second {
		_ = n.Stop(context.Background())
		t.Fatalf("a member without a token: %v after %v; want a prompt refusal", err, time.Since(began))
	}

	// A wrong (or expired, deleted) token: refused at once, with an error
	// naming Consul's address and the token, not Consul's bare "ACL not
	// found".
	wrong := testcluster.Config(t, agent.HTTPAddr(), appKinds(t), "wrong-token")
	wrong.Consul.Token = "00000000-0000-0000-0000-000000000000"
	if n, err = node.New(wrong); err != nil {
		t.Fatal(err)
	}
	began = time.Now()
	err = n.Start(testutil.Context(t, 60*time.Second))
	if !errors.Is(err, node.ErrConsulRefused) || !strings.Contains(err.Error(), agent.HTTPAddr()) || !strings.Contains(err.Error(), "CONSUL_HTTP_TOKEN") ||
		time.Since(began) > 15*time.Second {
		_ = n.Stop(context.Background())
		t.Fatalf("a member with a wrong token: %v after %v; want a prompt node.ErrConsulRefused naming Consul's address and CONSUL_HTTP_TOKEN", err, time.Since(began))
	}

	nodes := testcluster.Start(t, agent.HTTPAddr(), appKinds(t), 2, func(_ int, cfg *node.Config) {
		cfg.Consul.Token = tok.SecretID
	})
	ctx := testutil.Context(t, 60*time.Second)
	c := nodes[0].Client()
	for _, id := range []string{"a1", "a2", "a3", "a4"} {
		st, err := c.SubmitAndWait(ctx, api.SubmitRequest{ID: id, Kind: "resize", Payload: json.RawMessage(`{"tiles":2}`)}, nil)
		if err != nil || st.State != api.StateCompleted {
			t.Fatalf("task %s with the minimal policy: %+v, %v", id, st, err)
		}
	}
	if w, _, err := client.CallTyped[struct{}, whereOut](ctx, c, "where", "acl", struct{}{}); err != nil || w.Member == "" {
		t.Fatalf("grain call with the minimal policy: %+v, %v", w, err)
	}
}

// TestConsulOverTLS: Consul as operators run it, ACLs denying by default
// and its API over TLS only, configured the way Consul's own tools are,
// through CONSUL_HTTP_SSL, CONSUL_CACERT and CONSUL_HTTP_TOKEN: members
// whose token carries membership.NodePolicy run tasks and grains.
func TestConsulOverTLS(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{ACLToken: "root-token-for-tests", TLS: true})
	acl := agent.Client().ACL()
	policy, _, err := acl.PolicyCreate(&consul.ACLPolicy{Name: "granary-node", Rules: membership.NodePolicy(testcluster.Cluster)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := acl.TokenCreate(&consul.ACLToken{Policies: []*consul.ACLTokenPolicyLink{{ID: policy.ID}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("CONSUL_HTTP_SSL", "true")
	t.Setenv("CONSUL_CACERT", agent.CAFile())
	t.Setenv("CONSUL_HTTP_TOKEN", tok.SecretID)
	nodes := testcluster.Start(t, agent.HTTPAddr(), appKinds(t), 2, nil)
	if nodes[0].Client() == nil || nodes[1].ID() == "" {
		t.Fatal("members did not start")
	}
	ctx := testutil.Context(t, 60*time.Second)
	c := nodes[1].Client()
	for _, id := range []string{"s1", "s2", "s3"} {
		st, err := c.SubmitAndWait(ctx, api.SubmitRequest{ID: id, Kind: "resize", Payload: json.RawMessage(`{"tiles":1}`)}, nil)
		if err != nil || st.State != api.StateCompleted {
			t.Fatalf("task %s over TLS to Consul: %+v, %v", id, st, err)
		}
	}
	if w, _, err := client.CallTyped[struct{}, whereOut](ctx, c, "where", "tls", struct{}{}); err != nil || w.Member == "" {
		t.Fatalf("grain call over TLS to Consul: %+v, %v", w, err)
	}
}
