package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/guildhouse/guildhall/ceremonyclient"
	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/rules"
	"github.com/guildhouse/guildhall/store"
)

// demoWitnesses are the people `seed` creates for local runs; Ada keeps the
// directory and the templates.
var demoWitnesses = []store.NewPerson{
	{ID: "alice@guildhouse.dev", DisplayName: "Alice Ashdown", Email: "alice@guildhouse.dev", Roles: []string{"security"}},
	{ID: "bob@guildhouse.dev", DisplayName: "Bob Brightwater", Email: "bob@guildhouse.dev", Roles: []string{"release"}},
	{ID: "carol@guildhouse.dev", DisplayName: "Carol Coldharbour", Email: "carol@guildhouse.dev", Roles: []string{"release", "security"}},
	{ID: "dave@guildhouse.dev", DisplayName: "Dave Dunmore", Email: "dave@guildhouse.dev", Roles: []string{"legal"}},
	{ID: "ivy@guildhouse.dev", DisplayName: "Ivy Ironside", Email: "ivy@guildhouse.dev", Roles: []string{"initiator"}},
	{ID: "ada@guildhouse.dev", DisplayName: "Ada Archer", Email: "ada@guildhouse.dev", Roles: []string{"admin"}},
}

// demoTemplates are the approval templates `seed` applies.
var demoTemplates = []rules.Template{
	{Name: "release", Description: "Release an artifact to production: two approvals, one from security, whose reject vetoes.",
		Kind: contract.KindRelease, Witnesses: rules.TemplateWitnesses{Roles: []string{"security", "release"}},
		Quorum:   contract.Quorum{Threshold: 2, Roles: map[string]int{"security": 1}, Veto: []string{"security"}},
		Deadline: "3d", OpenedBy: []string{"initiator", "release"}},
	{Name: "key-rotation", Description: "Rotate a signing key: two security approvals, signed with a registered key.",
		Kind: contract.KindKeyRotation, Witnesses: rules.TemplateWitnesses{Roles: []string{"security"}},
		Quorum:   contract.Quorum{Threshold: 2, Roles: map[string]int{"security": 2}, MinAssurance: contract.AssuranceKey},
		Deadline: "2d", OpenedBy: []string{"security"}},
	{Name: "accord", Description: "Ratify an accord: legal and security both approve.",
		Kind: contract.KindRatification, Witnesses: rules.TemplateWitnesses{Roles: []string{"legal", "security"}},
		Quorum:   contract.Quorum{Threshold: 2, Roles: map[string]int{"legal": 1, "security": 1}},
		Deadline: "7d", OpenedBy: []string{"initiator", "legal"}},
}

// DemoCeremonyID is the ceremony `seed` opens.
const DemoCeremonyID = "demo/release-guildhall-v0-1-0"

func demoSpec(now time.Time) contract.Spec {
	return contract.Spec{
		ID: DemoCeremonyID, Kind: contract.KindRelease, Title: "Release guildhall v0.1.0",
		Description: "Approve the first Guildhall release image for production.",
		Artifact: contract.Artifact{Name: "guildhall", URI: "oci://forgejo.guildhouse.dev/guildhouse/guildhall:v0.1.0",
			Digest: "sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"},
		Initiator: "ivy@guildhouse.dev",
		Witnesses: []contract.WitnessRef{
			{ID: "alice@guildhouse.dev", Role: "security"}, {ID: "bob@guildhouse.dev", Role: "release"},
			{ID: "carol@guildhouse.dev", Role: "release"},
		},
		Quorum:   contract.Quorum{Threshold: 2, Roles: map[string]int{"security": 1}, Veto: []string{"security"}},
		Deadline: now.Add(7 * 24 * time.Hour).UTC().Truncate(time.Second),
		Source:   "seed",
	}
}

func newSeedCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "seed",
		Short: "Create demo witnesses and open one demo ceremony (safe to run again)",
		Args:  cobra.NoArgs,
		RunE: withStore(func(cmd *cobra.Command, _ []string, s *store.Store) error {
			c, err := dialTool(cmd.Context(), "guildhall-seed")
			if err != nil {
				return err
			}
			defer c.Close()
			return seed(cmd.Context(), s, ceremonyclient.New(c))
		}),
	}
}

// seed is idempotent: witnesses are upserted and an already opened demo ceremony
// (running or finished) is left alone.
func seed(ctx context.Context, s *store.Store, cc *ceremonyclient.Client) error {
	for _, w := range demoWitnesses {
		if err := s.EnsureWitness(ctx, w, "seed"); err != nil {
			return err
		}
	}
	for _, t := range demoTemplates {
		if _, _, err := s.ApplyTemplate(ctx, t, "seed"); err != nil {
			return err
		}
	}
	if _, err := s.GetCeremony(ctx, DemoCeremonyID); err == nil {
		slog.Info("demo ceremony already exists", "id", DemoCeremonyID)
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	_, err := cc.Open(ctx, demoSpec(time.Now()))
	if err != nil && !errors.Is(err, ceremonyclient.ErrAlreadyOpen) {
		return fmt.Errorf("open demo ceremony: %w", err)
	}
	slog.Info("seeded", "witnesses", len(demoWitnesses), "ceremony", DemoCeremonyID)
	return nil
}
