package store_test

import (
	"testing"

	"github.com/novel-engine/novel-engine/store"
	"github.com/novel-engine/novel-engine/store/storetest"
)

func TestMemoryConformance(t *testing.T) {
	storetest.Run(t, func(t testing.TB) store.Store { return store.NewMemory() })
}
