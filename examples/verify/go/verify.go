// Verify a tessera connection token in Go, as a resource server would (golang-jwt).
//
//	go run verify.go https://tessera.example.com/.well-known/jwks.json "$TOKEN"
//
// The key is looked up by the token's `kid` in tessera's JWKS, the algorithm must be the one
// the key names (EdDSA), and `exp`, `nbf`, `iss` and `aud` are checked. Prints the claims, or
// the reason the token was refused (exit 1). A long-running server would cache the JWKS for
// its Cache-Control max-age and refetch on an unknown kid.
package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"

	"github.com/golang-jwt/jwt"
)

const (
	issuer   = "tessera"
	audience = "subtotal"
)

type jwk struct {
	Kty, Crv, X, Kid, Alg string
}

// keys fetches the JWKS: Ed25519 public keys by kid.
func keys(url string) (map[string]ed25519.PublicKey, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var set struct{ Keys []jwk }
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		return nil, err
	}
	out := map[string]ed25519.PublicKey{}
	for _, k := range set.Keys {
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		if k.Kty == "OKP" && k.Crv == "Ed25519" && k.Alg == "EdDSA" && err == nil && len(x) == ed25519.PublicKeySize {
			out[k.Kid] = ed25519.PublicKey(x)
		}
	}
	return out, nil
}

func verify(jwksURL, token string) (*jwt.RegisteredClaims, error) {
	published, err := keys(jwksURL)
	if err != nil {
		return nil, err
	}
	claims := &jwt.RegisteredClaims{}
	parser := jwt.NewParser(jwt.WithValidMethods([]string{"EdDSA"}))
	_, err = parser.ParseWithClaims(token, claims, func(t *jwt.Token) (interface{}, error) {
		kid, _ := t.Header["kid"].(string)
		if key, ok := published[kid]; ok {
			return key, nil
		}
		return nil, fmt.Errorf("unknown key id %q", kid)
	})
	if err != nil {
		return nil, err
	}
	if !claims.VerifyIssuer(issuer, true) || !claims.VerifyAudience(audience, true) || claims.ExpiresAt == nil || claims.NotBefore == nil {
		return nil, errors.New("wrong issuer or audience, or no exp/nbf")
	}
	return claims, nil
}

func main() {
	claims, err := verify(os.Args[1], os.Args[2])
	if err != nil {
		fmt.Fprintf(os.Stderr, "token refused: %v\n", err)
		os.Exit(1)
	}
	out, _ := json.Marshal(claims)
	fmt.Println(string(out))
}
