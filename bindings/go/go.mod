module walstore.dev/walstore

go 1.19
