package boltstore

import bolt "go.etcd.io/bbolt"

// The file is shared: granary dev keeps its grains' durable state and
// reminder index (cluster/grainstate/boltstate) in buckets of their own in
// this store's file, so that one file, one backup and one fsync per group
// of writes serve both. These three methods are how that package reaches
// the file; each answers errors as the store's own operations do (disk
// full, closed).

// ViewTx runs fn in a read-only transaction.
func (s *Store) ViewTx(fn func(*bolt.Tx) error) error { return wrap(s.db.View(fn)) }

// BatchTx runs fn in one of the store's shared write transactions (group
// commit): fn may run more than once and must reset what it reports
// through its own variables each time; an error it returns fails it alone.
func (s *Store) BatchTx(fn func(*bolt.Tx) error) error { return s.batch(fn) }

// UpdateTx runs fn in a write transaction of its own.
func (s *Store) UpdateTx(fn func(*bolt.Tx) error) error { return s.update(fn) }
