// Command tend-lab boots a lab (see package integration/lab) and keeps it
// running until interrupted, for poking at hosts by hand while writing or
// debugging end-to-end tests. Run it as root:
//
//	go run ./integration/lab/cmd/tend-lab -n 3 -inventory /tmp/lab.hcl
//	go run ./integration/lab/cmd/tend-lab -clean   # tear down labs of dead processes
//	go run ./integration/lab/cmd/tend-lab -prepare # build the tests' base images
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tendhq/tend/integration/lab"
)

func main() {
	n := flag.Int("n", 3, "number of hosts")
	name := flag.String("name", "lab", "host name prefix")
	inventory := flag.String("inventory", "", "write a tend inventory of the lab to this file")
	cacheDir := flag.String("cache-dir", lab.DefaultCacheDir, "where the base image is cached")
	pkgs := flag.String("packages", "", "extra Debian packages in the base image, comma-separated (\"db\": PostgreSQL and MariaDB)")
	clean := flag.Bool("clean", false, "only tear down labs left by dead processes, then exit")
	prepare := flag.Bool("prepare", false, "only build every base image the tests use (systemd, with the database packages, sysvinit, OpenRC) unless cached, then exit")
	flag.Parse()
	log.SetFlags(0)

	if *clean {
		if err := lab.CleanStale(); err != nil {
			log.Fatal(err)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if *prepare {
		for _, o := range []lab.Options{
			{},
			{Packages: lab.DatabasePackages},
			{Init: lab.InitSysVinit},
			{Init: lab.InitOpenRC},
		} {
			o.Name, o.CacheDir, o.Logf = "prepare", *cacheDir, log.Printf
			begin := time.Now()
			if err := lab.Prepare(ctx, o); err != nil {
				log.Fatal(err)
			}
			log.Printf("tend-lab: base image (init %q, packages %v) ready after %s", o.Init, o.Packages, time.Since(begin).Round(time.Second))
		}
		return
	}
	var extra []string
	switch *pkgs {
	case "":
	case "db":
		extra = lab.DatabasePackages
	default:
		extra = strings.Split(*pkgs, ",")
	}
	l, err := lab.Start(ctx, lab.Options{Hosts: *n, Name: *name, CacheDir: *cacheDir, Logf: log.Printf, Packages: extra})
	if err != nil {
		log.Fatal(err)
	}
	if *inventory != "" {
		if err := l.WriteInventory(*inventory); err != nil {
			log.Print(err)
		}
	}
	for _, h := range l.Hosts {
		fmt.Printf("%s\t%s\tpid %d\troot %s\n", h.Name, h.Address, h.PID, h.Root)
	}
	fmt.Printf("ssh %s\n", strings.Join(l.SSHArgs(1, "root"), " "))
	fmt.Println("Ctrl-C tears the lab down.")
	<-ctx.Done()
	if err := l.Close(); err != nil {
		log.Fatal(err)
	}
	os.Exit(0)
}
