package cluster

// BucketOf is a simulation's bucket of channels on a Redis Cluster.
func BucketOf(sim string) string { return bucket(sim) }
