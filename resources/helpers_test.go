package resources_test

import (
	"context"

	"github.com/zclconf/go-cty/cty"

	"github.com/tendhq/tend/probe"
	"github.com/tendhq/tend/resources"
	"github.com/tendhq/tend/transport"
)

func probeOne(tr transport.Transport, typ resources.Type, cfg cty.Value) (*resources.State, error) {
	res, err := probe.Run(context.Background(), tr, false, []probe.Fragment{{ID: "r", Script: typ.Probe(cfg, nil)}})
	if err != nil {
		return nil, err
	}
	return typ.Read(cfg, res.Outputs["r"])
}
