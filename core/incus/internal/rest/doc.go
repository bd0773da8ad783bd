// Package rest speaks the part of Incus's public REST API that plex uses, over
// the server's unix socket or HTTPS, with the standard library and
// gorilla/websocket only.
//
// Every Incus answer is an envelope: a sync response carries its metadata, an
// async one names a background operation, and an error carries the HTTP
// status and the server's message. Operations are waited with
// GET /1.0/operations/{id}/wait?timeout=N in a loop, so that a dropped wait
// or a server that ends the wait early costs one more poll, not the result.
// Every call carries ?project= when a project is set, and ?target= where the
// caller places something on a cluster member.
//
// Errors are *Error values that keep the HTTP status: IsNotFound and
// friends use errors.As, never the message's text.
package rest
