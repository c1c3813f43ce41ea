package db

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	mssql "github.com/microsoft/go-mssqldb"
	goora "github.com/sijms/go-ora/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/shell"
	"github.com/tendhq/tend/transport"
)

// Engines.
const (
	Postgres = "postgresql"
	MySQL    = "mysql"
	MariaDB  = "mariadb"
	MSSQL    = "mssql"
	Oracle   = "oracle"
)

var engines = []string{Postgres, MySQL, MariaDB, MSSQL, Oracle}

// connAttrs are the attributes of both types that say how to reach the
// server and as whom.
var connAttrs = []resources.Attribute{
	{Name: "engine", Type: cty.String, Required: true, Doc: "The database engine: \"postgresql\", \"mysql\", \"mariadb\", \"mssql\" or \"oracle\"."},
	{Name: "address", Type: cty.String, Doc: "Where the server listens, as seen from the host: a Unix socket path (\"/var/run/postgresql/.s.PGSQL.5432\") or \"host:port\". The connection is opened by the host's SSH server (a direct-tcpip or direct-streamlocal channel of the existing connection), so the server needs no port open to the controller. Default: PostgreSQL's and MariaDB/MySQL's Debian socket paths, 127.0.0.1:1433 for MSSQL, 127.0.0.1:1521 for Oracle."},
	{Name: "admin_user", Type: cty.String, Doc: "The account tend logs in as. Default: postgres, root, sa or system by engine."},
	{Name: "admin_password", Type: cty.String, Sensitive: true, Doc: "Its password, e.g. secret(\"env:PG_ADMIN\"). Unset: no password (peer or unix_socket authentication). The run journal keeps the secret(...) reference, never the password: `tend rollback RUN-ID` resolves it again, so set the same environment variable for it (a password given any other way cannot be resolved again: apply the previous configuration instead)."},
	{Name: "admin_database", Type: cty.String, Doc: "The database to connect to for account changes (PostgreSQL: postgres; Oracle: the service name, required)."},
	{Name: "become_user", Type: cty.String, Doc: "Connect as this OS user on the host, for servers that allow only peer authentication on their Unix socket (PostgreSQL's postgres): tend runs a small relay as that user (runuser, or sudo -n when the login is not root; Perl from perl-base) whose standard input and output carry the connection. Needs a Unix socket address."},
}

// target is how to reach a server, from a resource's configuration.
type target struct {
	engine, address, user, password, database, become string
	// passwordVal is admin_password as configured, marks included.
	passwordVal cty.Value
}

func cfgStr(cfg cty.Value, name string) (string, bool) {
	if !cfg.Type().IsObjectType() || !cfg.Type().HasAttribute(name) {
		return "", false
	}
	v := cfg.GetAttr(name)
	if v.IsNull() || !v.IsKnown() {
		return "", false
	}
	v, _ = v.Unmark()
	return v.AsString(), true
}

func cfgTarget(cfg cty.Value) (target, error) {
	t := target{}
	e, _ := cfgStr(cfg, "engine")
	switch e {
	case Postgres, MySQL, MariaDB, MSSQL, Oracle:
	case "postgres":
		e = Postgres
	default:
		return t, &resources.AttrError{Attr: "engine", Msg: fmt.Sprintf("unknown engine %q: want one of %s", e, strings.Join(engines, ", "))}
	}
	t.engine = e
	defaults := map[string][3]string{
		Postgres: {"/var/run/postgresql/.s.PGSQL.5432", "postgres", "postgres"},
		MySQL:    {"/run/mysqld/mysqld.sock", "root", ""},
		MariaDB:  {"/run/mysqld/mysqld.sock", "root", ""},
		MSSQL:    {"127.0.0.1:1433", "sa", "master"},
		Oracle:   {"127.0.0.1:1521", "system", ""},
	}[e]
	t.address, t.user, t.database = defaults[0], defaults[1], defaults[2]
	if v, ok := cfgStr(cfg, "address"); ok {
		t.address = v
	}
	if v, ok := cfgStr(cfg, "admin_user"); ok {
		t.user = v
	}
	if v, ok := cfgStr(cfg, "admin_database"); ok {
		t.database = v
	}
	if t.password, _ = cfgStr(cfg, "admin_password"); t.password != "" {
		t.passwordVal = cfg.GetAttr("admin_password")
	}
	t.become, _ = cfgStr(cfg, "become_user")
	if !strings.HasPrefix(t.address, "/") {
		if _, _, err := net.SplitHostPort(t.address); err != nil {
			return t, &resources.AttrError{Attr: "address", Msg: fmt.Sprintf("%q is neither a socket path nor host:port", t.address)}
		}
		if t.become != "" {
			return t, &resources.AttrError{Attr: "become_user", Msg: "become_user needs a Unix socket address"}
		}
	}
	if t.engine == Oracle && t.database == "" {
		return t, &resources.AttrError{Attr: "admin_database", Msg: "Oracle needs the service name in admin_database"}
	}
	return t, nil
}

func (t target) network() string {
	if strings.HasPrefix(t.address, "/") {
		return "unix"
	}
	return "tcp"
}

// connectTimeout bounds opening a connection (SSH channel, relay and
// server handshake); queryTimeout bounds one operation.
const (
	connectTimeout = 30 * time.Second
	queryTimeout   = 2 * time.Minute
)

// relayScript runs a relay between its standard input/output and a Unix
// socket, as user.
func relayScript(user, socket string) string {
	const perl = `use Socket;
socket(my $s, PF_UNIX, SOCK_STREAM, 0) or die "socket: $!\n";
connect($s, sockaddr_un($ARGV[0])) or die "connect $ARGV[0]: $!\n";
binmode STDIN; binmode STDOUT; binmode $s;
my ($i, $o) = (fileno(STDIN), fileno($s));
my $rin = ""; vec($rin, $i, 1) = 1; vec($rin, $o, 1) = 1;
sub put { my ($fh, $b) = @_; while (length $b) { my $n = syswrite($fh, $b); die "write: $!\n" unless defined $n; substr($b, 0, $n) = ""; } }
while (1) {
  my $n = select(my $r = $rin, undef, undef, undef);
  next if $n < 0;
  if (vec($r, $i, 1)) { my $k = sysread(STDIN, my $b, 65536); exit 0 unless $k; put($s, $b); }
  if (vec($r, $o, 1)) { my $k = sysread($s, my $b, 65536); exit 0 unless $k; put(\*STDOUT, $b); }
}`
	args := shell.Join("perl", "-e", perl, socket)
	return "if [ \"$(id -u)\" = 0 ]; then exec runuser -u " + shell.Quote(user) + " -- " + args + "; fi\n" +
		"exec sudo -n -u " + shell.Quote(user) + " -- " + args + "\n"
}

// dialer returns the function opening the byte stream to the server.
func (t target) dialer(h *resources.Host) (func(ctx context.Context) (net.Conn, error), error) {
	d, ok := h.T.(transport.Dialer)
	if !ok {
		return nil, fmt.Errorf("the connection to host %s cannot open connections from the host (database resources need SSH)", h.Name)
	}
	if t.become != "" {
		return func(ctx context.Context) (net.Conn, error) {
			return d.Pipe(ctx, relayScript(t.become, t.address), nil)
		}, nil
	}
	return func(ctx context.Context) (net.Conn, error) {
		return d.DialContext(ctx, t.network(), t.address)
	}, nil
}

// open opens one connection to the server as the admin, to database db
// (t.database when empty).
func (t target) open(ctx context.Context, h *resources.Host, db string) (*sql.Conn, func(), error) {
	dial, err := t.dialer(h)
	if err != nil {
		return nil, nil, err
	}
	if db == "" {
		db = t.database
	}
	var sdb *sql.DB
	switch t.engine {
	case Postgres:
		// The configuration is built field by field: no DSN to parse,
		// nothing of the password in an error message.
		cfg, err := pgx.ParseConfig("")
		if err != nil {
			return nil, nil, err
		}
		// For messages only: DialFunc opens the real stream.
		cfg.Host, cfg.Port, cfg.User, cfg.Password, cfg.Database = path.Dir(t.address), 5432, t.user, t.password, db
		if t.network() == "tcp" {
			host, port, _ := net.SplitHostPort(t.address)
			p, _ := strconv.Atoi(port)
			cfg.Host, cfg.Port = host, uint16(p)
		}
		cfg.TLSConfig, cfg.Fallbacks = nil, nil
		cfg.ConnectTimeout = connectTimeout
		cfg.DialFunc = func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx) }
		cfg.LookupFunc = func(ctx context.Context, host string) ([]string, error) { return []string{host}, nil }
		cfg.RuntimeParams = map[string]string{"application_name": "tend"}
		sdb = stdlib.OpenDB(*cfg)
	case MySQL, MariaDB:
		cfg := mysql.NewConfig()
		cfg.User, cfg.Passwd, cfg.DBName = t.user, t.password, db
		cfg.Net, cfg.Addr = t.network(), t.address
		cfg.Timeout = connectTimeout
		cfg.AllowNativePasswords = true
		cfg.DialFunc = func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx) }
		c, err := mysql.NewConnector(cfg)
		if err != nil {
			return nil, nil, err
		}
		sdb = sql.OpenDB(c)
	case MSSQL:
		u := url.URL{Scheme: "sqlserver", User: url.UserPassword(t.user, t.password), Host: t.address,
			RawQuery: url.Values{"database": {db}, "encrypt": {"disable"}}.Encode()}
		c, err := mssql.NewConnector(u.String())
		if err != nil {
			return nil, nil, fmt.Errorf("mssql connection settings: invalid")
		}
		c.Dialer = dialFunc(func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx) })
		sdb = sql.OpenDB(c)
	case Oracle:
		host, port, _ := net.SplitHostPort(t.address)
		p, _ := strconv.Atoi(port)
		c := goora.NewConnector(goora.BuildUrl(host, p, db, t.user, t.password, nil)).(*goora.OracleConnector)
		c.Dialer(dialFunc(func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx) }))
		sdb = sql.OpenDB(c)
	}
	sdb.SetMaxOpenConns(1)
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	conn, err := sdb.Conn(cctx)
	if err != nil {
		sdb.Close()
		return nil, nil, t.connError(h, err)
	}
	if err := conn.PingContext(cctx); err != nil {
		conn.Close()
		sdb.Close()
		return nil, nil, t.connError(h, err)
	}
	return conn, func() { conn.Close(); sdb.Close() }, nil
}

func (t target) connError(h *resources.Host, err error) error {
	msg := err.Error()
	if t.password != "" {
		msg = strings.ReplaceAll(msg, t.password, "(sensitive)")
	}
	how := t.address
	if t.become != "" {
		how += " as OS user " + t.become
	}
	return fmt.Errorf("cannot connect to %s at %s on host %s as %s: %s", t.engine, how, h.Name, t.user, msg)
}

type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

func (f dialFunc) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return f(ctx, network, addr)
}
