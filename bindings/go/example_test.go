package walstore_test

import (
	"errors"
	"fmt"
	"log"
	"os"

	"walstore.dev/walstore"
)

func Example() {
	dir, err := os.MkdirTemp("", "walstore-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	s, err := walstore.Open(dir, &walstore.Options{Durability: walstore.DurabilityFsync})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close() // idempotent; the explicit Close below reports the final sync

	if err := s.Store(1, []byte("hello")); err != nil {
		log.Fatal(err)
	}
	// One write and one fsync; after a crash all entries or none.
	if err := s.StoreBatch([]walstore.Entry{{ID: 2, Data: []byte("two")}, {ID: 3, Data: []byte("three")}}); err != nil {
		log.Fatal(err)
	}
	v, err := s.Retrieve(1)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("id 1: %s\n", v)

	if err := s.Delete(2); err != nil {
		log.Fatal(err)
	}
	if _, err := s.Retrieve(2); errors.Is(err, walstore.ErrNotFound) {
		fmt.Println("id 2: not found")
	}
	if err := s.Close(); err != nil {
		log.Fatal(err)
	}

	// Reopen: the open report says what recovery did.
	s, err = walstore.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	fmt.Println("records replayed:", s.OpenReport().RecordsReplayed)
	v, _ = s.Retrieve(3)
	fmt.Printf("id 3: %s\n", v)

	// A second writable open of the same directory is refused.
	if _, err := walstore.Open(dir, nil); errors.Is(err, walstore.ErrLocked) {
		fmt.Println("second open: locked")
	}
	// Output:
	// id 1: hello
	// id 2: not found
	// records replayed: 4
	// id 3: three
	// second open: locked
}

func ExampleStore_WriteBatch() {
	dir, err := os.MkdirTemp("", "walstore-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	s, err := walstore.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	for id := uint64(1); id <= 5; id++ {
		if err := s.Store(id, []byte(fmt.Sprint("entry ", id))); err != nil {
			log.Fatal(err)
		}
	}

	// A Raft-style truncation: drop entries 3 to 5, write a new entry 3,
	// and remember the new term, all in one write and one fsync.
	b := new(walstore.WriteBatch).
		DeleteRange(3, 5).
		Store(3, []byte("entry 3, new term")).
		Store(1000, []byte("term 2")).
		Delete(999) // not there: no error in a batch
	if err := s.WriteBatch(b); err != nil {
		log.Fatal(err)
	}
	for id := uint64(1); id <= 5; id++ {
		v, err := s.Retrieve(id)
		if errors.Is(err, walstore.ErrNotFound) {
			fmt.Printf("id %d: not found\n", id)
			continue
		}
		fmt.Printf("id %d: %s\n", id, v)
	}

	// A range with its ends the wrong way round is refused.
	err = s.DeleteRange(9, 8)
	fmt.Println(errors.Is(err, walstore.ErrInvalidArgument))
	// Output:
	// id 1: entry 1
	// id 2: entry 2
	// id 3: entry 3, new term
	// id 4: not found
	// id 5: not found
	// true
}
