// A small go-plugin host that launches a taskpulse plugin (`taskpulse plugin mock`, given as the
// command line) and drives it through the taskpulse driver protocol. It prints one "ok" line per
// check and exits 1 at the first failure (test/go-plugin/interop.test.ts reads them).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	structpb "github.com/golang/protobuf/ptypes/struct"
	hclog "github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	driverv1 "taskpulse.dev/driver/v1"
	"taskpulse.dev/gotest/shared"
)

func fail(format string, args ...interface{}) {
	fmt.Printf("FAIL "+format+"\n", args...)
	os.Exit(1)
}

func ok(format string, args ...interface{}) {
	fmt.Printf("ok "+format+"\n", args...)
}

func num(v float64) *structpb.Value { return &structpb.Value{Kind: &structpb.Value_NumberValue{NumberValue: v}} }

func main() {
	if len(os.Args) < 2 {
		fail("usage: host <plugin command> [args...]")
	}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  shared.Handshake,
		Plugins:          shared.Plugins,
		Cmd:              exec.Command(os.Args[1], os.Args[2:]...),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           hclog.New(&hclog.LoggerOptions{Name: "host", Level: hclog.Debug, Output: os.Stderr}),
	})
	defer client.Kill()
	rpc, err := client.Client()
	if err != nil {
		fail("handshake: %v", err)
	}
	ok("handshake (go-plugin %s)", "grpc")
	if err := rpc.Ping(); err != nil {
		fail("ping (health service): %v", err)
	}
	ok("ping")
	raw, err := rpc.Dispense("driver")
	if err != nil {
		fail("dispense: %v", err)
	}
	d := raw.(driverv1.TaskDriverClient)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	caps, err := d.Capabilities(ctx, &driverv1.CapabilitiesRequest{})
	if err != nil || caps.GetName() != "mock" || !caps.GetStats() {
		fail("capabilities: %v %v", caps, err)
	}
	ok("capabilities name=%s stats=%v recover=%v", caps.GetName(), caps.GetStats(), caps.GetRecover())

	spec := &driverv1.TaskSpec{Id: "go/t1", Name: "t1", Config: &structpb.Struct{Fields: map[string]*structpb.Value{
		"runForMs": num(600), "exitCode": num(3),
	}}}
	start, err := d.StartTask(ctx, &driverv1.StartTaskRequest{Task: spec})
	if err != nil || start.GetHandle().GetTaskId() != "go/t1" {
		fail("start: %v %v", start, err)
	}
	ok("start task %s", start.GetHandle().GetTaskId())

	streamCtx, stopStream := context.WithCancel(ctx)
	stream, err := d.TaskStats(streamCtx, &driverv1.TaskStatsRequest{TaskId: "go/t1", IntervalMs: 50})
	if err != nil {
		fail("stats open: %v", err)
	}
	for i := 0; i < 2; i++ {
		msg, err := stream.Recv()
		if err != nil {
			fail("stats recv: %v", err)
		}
		mem := msg.GetStats().GetResourceUsage().GetMemory()
		if mem.GetRss() == 0 || len(mem.GetMeasured()) == 0 || msg.GetStats().GetTimestamp() == 0 {
			fail("stats sample: %v", msg)
		}
	}
	stopStream()
	if _, err := stream.Recv(); err != nil && err != io.EOF && status.Code(err) != codes.Canceled {
		fail("stats cancel: %v", err)
	}
	ok("stats stream: 2 samples with measured lists, cancelled cleanly")

	wait, err := d.WaitTask(ctx, &driverv1.WaitTaskRequest{TaskId: "go/t1"})
	if err != nil || !wait.GetResult().GetHasExitCode() || wait.GetResult().GetExitCode() != 3 {
		fail("wait: %v %v", wait, err)
	}
	ok("wait: exit code %d", wait.GetResult().GetExitCode())

	var trailer metadata.MD
	exited, err := d.TaskStats(ctx, &driverv1.TaskStatsRequest{TaskId: "go/t1", IntervalMs: 50})
	if err == nil {
		_, err = exited.Recv()
		trailer = exited.Trailer()
	}
	if status.Code(err) != codes.FailedPrecondition || len(trailer.Get("taskpulse-recoverable")) != 1 ||
		trailer.Get("taskpulse-recoverable")[0] != "false" {
		fail("stats of an exited task: %v %v", err, trailer)
	}
	ok("stats of an exited task: FAILED_PRECONDITION, recoverable=false")

	if _, err := d.DestroyTask(ctx, &driverv1.DestroyTaskRequest{TaskId: "go/t1"}); err != nil {
		fail("destroy: %v", err)
	}
	_, err = d.WaitTask(ctx, &driverv1.WaitTaskRequest{TaskId: "go/t1"})
	if status.Code(err) != codes.NotFound {
		fail("wait after destroy: %v", err)
	}
	ok("destroyed; then NOT_FOUND")

	client.Kill() // controller Shutdown, then waits for the exit
	if !client.Exited() {
		fail("plugin still running after Kill")
	}
	ok("shutdown through the controller; plugin exited")
}
