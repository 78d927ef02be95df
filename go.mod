module github.com/lsgm-go/lsgm

go 1.26.8

require (
	github.com/vmihailenco/msgpack/v5 v5.4.1
	github.com/x448/float16 v0.8.4
)

require (
	github.com/davecgh/go-spew v1.1.1 // indirect
	github.com/stretchr/testify v1.7.0 // indirect
	github.com/vmihailenco/tagparser/v2 v2.0.0 // indirect
)
