// Package docs embeds the partner API contract so that the service can serve
// it and the tests can hold responses to it.
package docs

import _ "embed"

// OpenAPI is docs/openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte

// NetworkOpenAPI is docs/network.yaml, the card network listener's
// contract.
//
//go:embed network.yaml
var NetworkOpenAPI []byte
