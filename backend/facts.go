package backend

import (
	"context"
	"fmt"
	"time"
)

// CachedFacts is a host's facts as the facts cache keeps them: the
// JSON document a probe gathered (its secrets already redacted by the
// writer) and when it was gathered.
type CachedFacts struct {
	Facts    []byte
	Gathered time.Time
}

// SaveFacts records hosts' facts, by host, in one transaction. An entry
// gathered earlier than the one stored (another controller's newer
// gathering) leaves the stored one in place.
func (b *Postgres) SaveFacts(ctx context.Context, facts map[string]CachedFacts) error {
	if len(facts) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	hosts := make([]string, 0, len(facts))
	docs := make([]string, 0, len(facts))
	times := make([]time.Time, 0, len(facts))
	for h, f := range facts {
		hosts = append(hosts, h)
		docs = append(docs, string(f.Facts))
		times = append(times, f.Gathered)
	}
	_, err := b.pool.Exec(ctx, `INSERT INTO tend_facts (host, facts, gathered)
		SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[])
		ON CONFLICT (host) DO UPDATE SET facts = excluded.facts, gathered = excluded.gathered
			WHERE tend_facts.gathered <= excluded.gathered`, hosts, docs, times)
	if err != nil {
		return fmt.Errorf("%s: saving facts: %w", b.where, err)
	}
	return nil
}

// Facts returns the cached facts of hosts (every host when nil), by
// host; a host with none is absent from the map.
func (b *Postgres) Facts(ctx context.Context, hosts []string) (map[string]CachedFacts, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	rows, err := b.pool.Query(ctx, `SELECT host, facts, gathered FROM tend_facts WHERE $1::text[] IS NULL OR host = ANY($1)`, hosts)
	if err != nil {
		return nil, fmt.Errorf("%s: reading facts: %w", b.where, err)
	}
	defer rows.Close()
	out := map[string]CachedFacts{}
	for rows.Next() {
		var h, doc string
		var g time.Time
		if err := rows.Scan(&h, &doc, &g); err != nil {
			return nil, fmt.Errorf("%s: reading facts: %w", b.where, err)
		}
		out[h] = CachedFacts{Facts: []byte(doc), Gathered: g}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: reading facts: %w", b.where, err)
	}
	return out, nil
}
