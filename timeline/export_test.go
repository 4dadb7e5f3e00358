package timeline

// HoldSlot takes one of r's replay slots until the function returned is
// called.
func HoldSlot(r *Replayer) func() {
	r.slots <- struct{}{}
	return func() { <-r.slots }
}
