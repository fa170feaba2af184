// Package messages is the Anthropic Messages API front door (POST
// /v1/messages) translated to and from Polygate's hub, OpenAI chat
// completions extended with reasoning_content, thinking_blocks,
// cache_control and cache-write usage.
//
// Everything here is a pure function or a small state machine over bytes:
//
//   - [TranslateRequest] turns a Messages request into a hub chat request,
//     rejecting with a 400 what the hub cannot carry, and returns the [Info]
//     the answer builders need.
//   - [TranslateResponse] turns a hub chat.completion into a Messages
//     response; [Stream] turns hub chat.completion.chunk events into the
//     Messages server-sent events, in the order the real API sends them.
//   - [ErrorResponse] and [ErrorEvent] give errors Anthropic's shape and
//     status.
//   - [UsageReader] and [ResponseUsage] read the token usage of Anthropic's
//     own answers (same-dialect pass-through).
//   - [RequestTexts], [ResponseTexts] and [CountTokensTexts] list the texts
//     of a request or answer for guardrails and token counting.
//   - [Replay] turns a stored Messages response into the events of a live
//     stream; [ModelList] and [ModelObject] answer GET /v1/models.
//
// It imports only Polygate's openai package.
package messages
