// A small taskpulse driver plugin written in Go with go-plugin: tasks live in memory, run until
// stopped or for config.runForMs and exit with config.exitCode, and stream a sample per interval.
// taskpulse hosts it through its driver contract suite (test/go-plugin/interop.test.ts).
package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	driverv1 "taskpulse.dev/driver/v1"
	"taskpulse.dev/gotest/shared"
)

type task struct {
	handle *driverv1.TaskHandle
	done   chan struct{}
	exit   *driverv1.ExitResult
}

type driver struct {
	driverv1.UnimplementedTaskDriverServer
	mu    sync.Mutex
	tasks map[string]*task
}

func (d *driver) find(id string) (*task, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t, ok := d.tasks[id]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "task not found: %s", id)
	}
	return t, nil
}

// finish ends a task once; d.mu must be held.
func (d *driver) finish(t *task, exit *driverv1.ExitResult) {
	if t.exit != nil {
		return
	}
	t.exit = exit
	close(t.done)
}

func number(spec *driverv1.TaskSpec, key string) float64 {
	if spec.GetConfig() == nil {
		return 0
	}
	if v, ok := spec.GetConfig().GetFields()[key]; ok {
		return v.GetNumberValue()
	}
	return 0
}

func (d *driver) Capabilities(context.Context, *driverv1.CapabilitiesRequest) (*driverv1.CapabilitiesResponse, error) {
	return &driverv1.CapabilitiesResponse{Name: "go-mock", Stats: true, SendSignals: false, FsIsolation: "none"}, nil
}

func (d *driver) StartTask(_ context.Context, req *driverv1.StartTaskRequest) (*driverv1.StartTaskResponse, error) {
	spec := req.GetTask()
	t := &task{
		handle: &driverv1.TaskHandle{TaskId: spec.GetId(), StartedAt: time.Now().UnixNano() / 1e6},
		done:   make(chan struct{}),
	}
	d.mu.Lock()
	d.tasks[spec.GetId()] = t
	d.mu.Unlock()
	if runFor := number(spec, "runForMs"); runFor > 0 {
		code := int32(number(spec, "exitCode"))
		time.AfterFunc(time.Duration(runFor)*time.Millisecond, func() {
			d.mu.Lock()
			defer d.mu.Unlock()
			d.finish(t, &driverv1.ExitResult{HasExitCode: true, ExitCode: code})
		})
	}
	return &driverv1.StartTaskResponse{Handle: t.handle}, nil
}

func (d *driver) WaitTask(ctx context.Context, req *driverv1.WaitTaskRequest) (*driverv1.WaitTaskResponse, error) {
	t, err := d.find(req.GetTaskId())
	if err != nil {
		return nil, err
	}
	select {
	case <-t.done:
		return &driverv1.WaitTaskResponse{Result: t.exit}, nil
	case <-ctx.Done():
		return nil, status.Error(codes.Canceled, "wait cancelled")
	}
}

func (d *driver) StopTask(_ context.Context, req *driverv1.StopTaskRequest) (*driverv1.StopTaskResponse, error) {
	t, err := d.find(req.GetTaskId())
	if err != nil {
		return nil, err
	}
	signal := req.GetSignal()
	if signal == "" {
		signal = "SIGTERM"
	}
	d.mu.Lock()
	d.finish(t, &driverv1.ExitResult{Signal: signal})
	d.mu.Unlock()
	return &driverv1.StopTaskResponse{}, nil
}

func (d *driver) DestroyTask(_ context.Context, req *driverv1.DestroyTaskRequest) (*driverv1.DestroyTaskResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t, ok := d.tasks[req.GetTaskId()]
	if !ok {
		return &driverv1.DestroyTaskResponse{}, nil
	}
	if t.exit == nil && !req.GetForce() {
		return nil, status.Errorf(codes.Unknown, "cannot destroy running task %s without force", req.GetTaskId())
	}
	d.finish(t, &driverv1.ExitResult{Signal: "SIGKILL"})
	delete(d.tasks, req.GetTaskId())
	return &driverv1.DestroyTaskResponse{}, nil
}

func sample() *driverv1.TaskResourceUsage {
	rss := uint64(20 << 20)
	return &driverv1.TaskResourceUsage{
		Timestamp: time.Now().UnixNano() / 1e6,
		ResourceUsage: &driverv1.ResourceUsage{
			Memory: &driverv1.MemoryStats{Rss: rss, Usage: rss, Measured: []string{"RSS", "Usage"}},
			Cpu: &driverv1.CpuStats{Percent: 5, UserMode: 4, SystemMode: 1,
				Measured: []string{"Percent", "User Mode", "System Mode"}},
		},
	}
}

func (d *driver) TaskStats(req *driverv1.TaskStatsRequest, stream driverv1.TaskDriver_TaskStatsServer) error {
	t, err := d.find(req.GetTaskId())
	if err != nil {
		return err
	}
	select {
	case <-t.done:
		// A RecoverableError that is not recoverable: the stats hook stops quietly.
		stream.SetTrailer(metadata.Pairs("taskpulse-recoverable", "false"))
		return status.Error(codes.FailedPrecondition, "task exited")
	default:
	}
	if err := stream.SendHeader(metadata.Pairs("taskpulse-stream-open", "1")); err != nil {
		return err
	}
	interval := time.Duration(req.GetIntervalMs()) * time.Millisecond
	if interval <= 0 {
		interval = time.Second
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		if err := stream.Send(&driverv1.TaskStatsResponse{Stats: sample()}); err != nil {
			return err
		}
		select {
		case <-ticker.C:
		case <-t.done:
			return nil
		case <-stream.Context().Done():
			return nil
		}
	}
}

func main() {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: shared.Handshake,
		Plugins:         map[string]plugin.Plugin{"driver": &shared.DriverPlugin{Impl: &driver{tasks: map[string]*task{}}}},
		GRPCServer:      plugin.DefaultGRPCServer,
	})
	fmt.Println() // unreachable: Serve exits the process
}
