// Package shared is the handshake config and plugin type a Go host and a Go plugin share to speak
// taskpulse's driver protocol through HashiCorp go-plugin (gRPC).
package shared

import (
	"context"

	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	driverv1 "taskpulse.dev/driver/v1"
)

// Handshake is taskpulse's go-plugin handshake config (src/plugins/protocol.ts).
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "TASKPULSE_PLUGIN_MAGIC_COOKIE",
	MagicCookieValue: "5d2a7c1e9b4f4e8a8c3d6f0b1a2e7c94",
}

// DriverPlugin serves or dispenses a taskpulse TaskDriver over gRPC.
type DriverPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl driverv1.TaskDriverServer
}

func (p *DriverPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	driverv1.RegisterTaskDriverServer(s, p.Impl)
	return nil
}

func (p *DriverPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return driverv1.NewTaskDriverClient(c), nil
}

// Plugins is the plugin map both sides use.
var Plugins = map[string]plugin.Plugin{"driver": &DriverPlugin{}}
