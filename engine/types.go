package engine

// Action is what a character does in one turn, as chosen by a decider or
// submitted by a player.
type Action struct {
	Kind   string `json:"kind"`
	Target string `json:"target,omitempty"`
	Text   string `json:"text,omitempty"`
}

// Action kinds every simulation accepts.
const (
	ActMove  = "move"
	ActSpeak = "speak"
	ActWait  = "wait"
)

// Sources of an event.
const (
	SourceAI     = "ai"
	SourcePlayer = "player"
	SourceLLM    = "llm"
	SourceScript = "script"
)

// Outcomes of an event.
const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
	OutcomePartial = "partial"
)

// Event is one resolved action (or scripted happening) of a turn.
type Event struct {
	Actor   string `json:"actor"`
	Kind    string `json:"kind"`
	Target  string `json:"target,omitempty"`
	Text    string `json:"text,omitempty"`
	Outcome string `json:"outcome"`
	Source  string `json:"source"`
}

// CharacterState is a character's public state after a turn.
type CharacterState struct {
	ID       string `json:"id"`
	Location string `json:"location"`
	Health   int    `json:"health"`
	Alive    bool   `json:"alive"`
}

// Turn is the result of one step of a simulation. The transport adds the
// simulation id and the time it was produced; nothing here depends on them.
type Turn struct {
	Seq        int64            `json:"seq"`
	Events     []Event          `json:"events"`
	Narrative  string           `json:"narrative"`
	Characters []CharacterState `json:"characters"`
	StateHash  string           `json:"state_hash"`
	Finished   bool             `json:"finished"`
}

// CharacterView is a character as listed in a simulation's description.
type CharacterView struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Role     string `json:"role"`
	Faction  string `json:"faction"`
	Location string `json:"location"`
	Health   int    `json:"health"`
	Alive    bool   `json:"alive"`
}

// LocationView is a location as listed in a simulation's description.
type LocationView struct {
	ID    string   `json:"id"`
	Name  string   `json:"name"`
	Exits []string `json:"exits"`
}
