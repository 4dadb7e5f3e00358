package runner

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/novel-engine/novel-engine/engine"
)

// turnBuffers hold room for a turn's encoding (about 1.5 KB with the
// built-in scenarios), so that encoding one allocates only its result.
var turnBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// encodeTurn returns t's encoding in a slice of its own, exactly as long
// as it: the store may keep it (Store.AppendTurn).
func encodeTurn(t *storedTurn) ([]byte, error) {
	buf := turnBuffers.Get().(*[]byte)
	defer turnBuffers.Put(buf)
	b, err := appendTurn((*buf)[:0], t)
	if err != nil {
		return nil, err
	}
	*buf = b
	return bytes.Clone(b), nil
}

// appendTurn appends t encoded exactly as json.Marshal encodes it (field
// order, omitempty, nil slices as null, HTML escaping), written by hand:
// reflection made encoding the turn cost about a tenth of the turn, and
// grew the stack of the job that does it every turn. The vote, at most
// once a vote, goes through encoding/json.
func appendTurn(b []byte, t *storedTurn) ([]byte, error) {
	if y := t.At.Year(); y < 0 || y > 9999 {
		return json.Marshal(t) // its error: no JSON time for that year
	}
	b = append(b, `{"sim":`...)
	b = engine.AppendJSONString(b, t.Sim)
	b = append(b, `,"at":"`...)
	b = t.At.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","seq":`...)
	b = strconv.AppendInt(b, t.Seq, 10)
	b = append(b, `,"events":`...)
	if t.Events == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range t.Events {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendEvent(b, &t.Events[i])
		}
		b = append(b, ']')
	}
	b = append(b, `,"narrative":`...)
	b = engine.AppendJSONString(b, t.Narrative)
	b = append(b, `,"characters":`...)
	if t.Characters == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, c := range t.Characters {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"id":`...)
			b = engine.AppendJSONString(b, c.ID)
			b = append(b, `,"location":`...)
			b = engine.AppendJSONString(b, c.Location)
			b = append(b, `,"health":`...)
			b = strconv.AppendInt(b, int64(c.Health), 10)
			b = append(b, `,"alive":`...)
			b = strconv.AppendBool(b, c.Alive)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"state_hash":`...)
	b = engine.AppendJSONString(b, t.StateHash)
	b = append(b, `,"finished":`...)
	b = strconv.AppendBool(b, t.Finished)
	if len(t.Inputs) > 0 {
		b = append(b, `,"inputs":{`...)
		for i, k := range slices.Sorted(maps.Keys(t.Inputs)) {
			if i > 0 {
				b = append(b, ',')
			}
			b = engine.AppendJSONString(b, k)
			b = append(b, ':')
			b = appendAction(b, t.Inputs[k])
		}
		b = append(b, '}')
	}
	if t.Vote != nil {
		v, err := json.Marshal(t.Vote)
		if err != nil {
			return nil, err
		}
		b = append(b, `,"vote":`...)
		b = append(b, v...)
	}
	return append(b, '}'), nil
}

func appendEvent(b []byte, e *engine.Event) []byte {
	b = append(b, `{"actor":`...)
	b = engine.AppendJSONString(b, e.Actor)
	b = append(b, `,"kind":`...)
	b = engine.AppendJSONString(b, e.Kind)
	if e.Target != "" {
		b = append(b, `,"target":`...)
		b = engine.AppendJSONString(b, e.Target)
	}
	if e.Text != "" {
		b = append(b, `,"text":`...)
		b = engine.AppendJSONString(b, e.Text)
	}
	b = append(b, `,"outcome":`...)
	b = engine.AppendJSONString(b, e.Outcome)
	b = append(b, `,"source":`...)
	b = engine.AppendJSONString(b, e.Source)
	return append(b, '}')
}

func appendAction(b []byte, a engine.Action) []byte {
	b = append(b, `{"kind":`...)
	b = engine.AppendJSONString(b, a.Kind)
	if a.Target != "" {
		b = append(b, `,"target":`...)
		b = engine.AppendJSONString(b, a.Target)
	}
	if a.Text != "" {
		b = append(b, `,"text":`...)
		b = engine.AppendJSONString(b, a.Text)
	}
	return append(b, '}')
}
