// Command quad is one small walstore program, written the same way in C
// (examples-c/quad.c), C++ (examples-cpp/quad.cpp), Go and Python
// (bindings/python/examples/quad.py). All four print exactly
// examples-c/quad.expected; `make quad` checks that (README.md).
//
// Usage: quad DIR (a directory that does not exist yet, or a new store).
package main

import (
	"fmt"
	"log"
	"os"

	"walstore.dev/walstore"
)

func main() {
	log.SetFlags(0)
	if len(os.Args) != 2 {
		log.Fatalf("usage: %s DIR", os.Args[0])
	}
	s, err := walstore.Open(os.Args[1], nil)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close() // after an error; the Close below reports the final sync

	// Three ids in one batch: one write, all or nothing after a crash.
	err = s.StoreBatch([]walstore.Entry{
		{ID: 1, Data: []byte("one")},
		{ID: 2, Data: []byte("two")},
		{ID: 3, Data: []byte("three")},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("stored ids 1, 2, 3 in one batch")

	v, err := s.Retrieve(2)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("id 2 reads %q\n", v)

	if err := s.Delete(1); err != nil {
		log.Fatal(err)
	}
	fmt.Println("deleted id 1")

	it, err := s.Iter()
	if err != nil {
		log.Fatal(err)
	}
	for {
		e, ok, err := it.Next()
		if err != nil {
			log.Fatal(err)
		}
		if !ok {
			break
		}
		fmt.Printf("live id %d: %d bytes\n", e.ID, len(e.Data))
	}
	it.Close()

	st, err := s.Stats()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("stats: %d live ids, %d log bytes\n", st.LiveIDs, st.LogBytes)

	if err := s.Compact(); err != nil {
		log.Fatal(err)
	}
	if st, err = s.Stats(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("compacted: generation %d, %d live ids, %d log bytes\n", st.Generation, st.LiveIDs, st.LogBytes)

	if err := s.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("closed")
}
