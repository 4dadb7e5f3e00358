package engine

import "testing"

// TestLoreDoesNotOverrideSighting: a fact tells where a thing was when the
// story began. A character who has seen it since (taken from someone's
// hands in front of them, say) keeps what it saw when it hears the old
// lore, and does not send others to the lore's place; one who knows
// nothing of the thing learns where to look.
func TestLoreDoesNotOverrideSighting(t *testing.T) {
	s, err := NewSim(mustBuiltin(t, "hollin"), 1, Options{})
	if err != nil {
		t.Fatal(err)
	}
	witness, c := s.charByID("corin")
	if c.knows("lantern_hidden") || c.holds("lantern") {
		t.Fatal("the young reaver knows the lore or holds the lantern at the start; pick another character")
	}
	c.Seen["lantern"] = "brannagh"
	if !s.learnFact(witness, "lantern_hidden") {
		t.Fatal("the lore was not news to the young reaver")
	}
	if got := c.Seen["lantern"]; got != "brannagh" {
		t.Fatalf("after hearing the lore, the young reaver places the lantern at %q, not with the captain he saw take it", got)
	}

	novice, n := s.charByID("aud")
	if n.knows("lantern_hidden") || n.holds("lantern") {
		t.Fatal("the shrine-keeper knows the lore or holds the lantern at the start; pick another character")
	}
	delete(n.Seen, "lantern")
	s.learnFact(novice, "lantern_hidden")
	if got := n.Seen["lantern"]; got != "@mill" {
		t.Fatalf("knowing nothing of the lantern, the shrine-keeper places it at %q after the lore, want @mill", got)
	}
}
