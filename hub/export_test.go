package hub

// QueuedForTest returns what is queued for c, without taking it.
func QueuedForTest(c *Client) [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([][]byte, len(c.queue))
	copy(out, c.queue)
	return out
}
