package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisServer is a private redis-server for tests that stop, kill or
// restart Redis; the shared one must keep running for the other tests.
type RedisServer struct {
	t    testing.TB
	Port int
	Dir  string
	URL  string
	AOF  bool
	cmd  *exec.Cmd
}

// StartRedis starts a private redis-server (append-only file on, as the
// project runs it) on a free loopback port; it is killed when the test ends.
func StartRedis(t testing.TB) *RedisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("testenv: redis-server not installed: %v; %s", err, hint)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &RedisServer{t: t, Port: port, Dir: t.TempDir(), AOF: true}
	s.URL = "redis://127.0.0.1:" + strconv.Itoa(port) + "/0"
	s.Start()
	t.Cleanup(func() { s.Kill() })
	return s
}

// Start (re)starts the server on the same port and directory.
func (s *RedisServer) Start() {
	s.t.Helper()
	aof := "yes"
	if !s.AOF {
		aof = "no"
	}
	s.cmd = exec.Command("redis-server",
		"--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1", "--dir", s.Dir,
		"--appendonly", aof, "--appendfsync", "always", "--save", "",
		"--latency-monitor-threshold", "10", // LATENCY LATEST tells a slow disk from a slow client
		"--daemonize", "no", "--protected-mode", "no",
		"--logfile", filepath.Join(s.Dir, "redis.log"))
	s.cmd.Stdout, s.cmd.Stderr = nil, nil
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("testenv: start redis-server: %v", err)
	}
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", s.Port)})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
			s.t.Fatalf("testenv: private redis-server did not answer: %v\n%s", err, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill stops the server with SIGKILL (what it had written to its AOF
// survives: Redis writes the AOF before it answers).
func (s *RedisServer) Kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	_, _ = s.cmd.Process.Wait()
	s.cmd = nil
}

// Client returns a new client for the server.
func (s *RedisServer) Client() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", s.Port)})
}
