package ssh_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/tendhq/tend/inventory"
	"github.com/tendhq/tend/transport"
	"github.com/tendhq/tend/transport/ssh"
)

func ExampleDial() {
	ctx := context.Background()
	h := &inventory.Host{Name: "web1", Address: "10.0.0.11", User: "ops"}
	t, err := ssh.Dial(ctx, h, ssh.Options{Stderr: os.Stderr})
	var unknown *ssh.UnknownHostKeyError
	if errors.As(err, &unknown) {
		// The message says how to verify and record the key.
		log.Fatal(err)
	}
	if err != nil {
		log.Fatal(err)
	}
	defer t.Close()

	out, err := transport.Output(ctx, t, transport.Command{Script: "uname -sr"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s", out)
	fmt.Printf("%+v\n", t.Stats()) // {Connections:1 Sessions:1 SFTPSessions:0}
}
