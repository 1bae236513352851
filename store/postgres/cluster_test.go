package postgres

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// A private PostgreSQL cluster for the fault tests: they stop, restart and
// kill what they like without touching the shared server. One cluster
// serves every fault test of a run (initdb takes seconds); each test makes
// its own database in it.

// pgBinDirs are where Debian and Ubuntu put the server's programs.
var pgBinDirs = []string{"/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin"}

type cluster struct {
	bin, dir, data string
	port           int
	mu             sync.Mutex // serialises stop/start
	dbs            int
}

var (
	clusterOnce sync.Once
	shared      *cluster
	clusterErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.destroy()
	}
	os.Exit(code)
}

// privateCluster starts (once) the cluster, or skips t when the server's
// programs are missing (fails it in CI, where they must be).
func privateCluster(t *testing.T) *cluster {
	t.Helper()
	bin := ""
	for _, d := range pgBinDirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			bin = d
			break
		}
	}
	if bin == "" {
		msg := "fault tests need PostgreSQL's initdb and pg_ctl (apt-get install postgresql-15); looked in " + strings.Join(pgBinDirs, ", ")
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	clusterOnce.Do(func() { shared, clusterErr = newCluster(bin) })
	if clusterErr != nil {
		t.Fatalf("private PostgreSQL cluster: %v", clusterErr)
	}
	return shared
}

func newCluster(bin string) (*cluster, error) {
	dir, err := os.MkdirTemp("", "store-pgfault-")
	if err != nil {
		return nil, err
	}
	c := &cluster{bin: bin, dir: dir, data: filepath.Join(dir, "data")}
	if os.Geteuid() == 0 {
		// initdb refuses to run as root: the cluster belongs to postgres.
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root needs the user postgres: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
	}
	if out, err := c.run("initdb", "-D", c.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"); err != nil {
		c.destroy()
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.destroy()
		return nil, err
	}
	c.port = l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	if err := c.start(); err != nil {
		c.destroy()
		return nil, err
	}
	return c, nil
}

// run runs one of the server's programs, as postgres when this is root.
func (c *cluster) run(prog string, args ...string) ([]byte, error) {
	path := filepath.Join(c.bin, prog)
	var cmd *exec.Cmd
	if os.Geteuid() == 0 {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = c.dir
	return cmd.CombinedOutput()
}

func (c *cluster) start() error {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60", c.port, c.dir)
	if out, err := c.run("pg_ctl", "-D", c.data, "-l", filepath.Join(c.dir, "log"), "-o", opts, "-w", "-t", "30", "start"); err != nil {
		return fmt.Errorf("pg_ctl start: %w\n%s", err, out)
	}
	return nil
}

// stop shuts the server down as a crash would (immediate: no checkpoint,
// connections cut); committed transactions survive by the WAL.
func (c *cluster) stop() error {
	if out, err := c.run("pg_ctl", "-D", c.data, "-m", "immediate", "-w", "-t", "30", "stop"); err != nil {
		return fmt.Errorf("pg_ctl stop: %w\n%s", err, out)
	}
	return nil
}

func (c *cluster) destroy() {
	_, _ = c.run("pg_ctl", "-D", c.data, "-m", "immediate", "-w", "-t", "30", "stop")
	_ = os.RemoveAll(c.dir)
}

// url is a URL of database db (the maintenance database when "").
func (c *cluster) url(db string) string {
	if db == "" {
		db = "postgres"
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}

// storeApp names the connections of the Stores under test, which the
// tests kill; their own connections are not named so.
const storeApp = "store-under-test"

// database makes a database of t's own.
func (c *cluster) database(t *testing.T) string {
	t.Helper()
	c.mu.Lock()
	c.dbs++
	name := fmt.Sprintf("fault%d", c.dbs)
	c.mu.Unlock()
	admin := c.connect(t, "")
	_, err := admin.Exec(context.Background(), "CREATE DATABASE "+name)
	if err != nil {
		t.Fatalf("CREATE DATABASE: %v", err)
	}
	return c.url(name)
}

// connect opens a plain connection of the test's own (not through a Store).
func (c *cluster) connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	if url == "" {
		url = c.url("")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}
