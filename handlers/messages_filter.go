package handlers

import (
	"strconv"

	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/guardrails"
	"github.com/polygate/polygate/openai"
)

// messagesFilter runs the output guardrails over a native Messages stream
// before the client sees it: each text block's text_delta goes through the
// chain's stream filter as the content of a chat choice numbered by the
// block's index, and what the filter releases goes out as text_delta
// events of that block (a block's end releases what was held). A block
// ends the stream: the open block is stopped and the message ends with
// stop_reason "refusal".
type messagesFilter struct {
	f       *guardrails.StreamFilter
	text    map[int64]bool // indexes of text blocks
	open    int64          // the open block, -1 when none
	blocked bool
	out     [][]byte
}

func newMessagesFilter(f *guardrails.StreamFilter) *messagesFilter {
	return &messagesFilter{f: f, text: map[int64]bool{}, open: -1}
}

// process returns the events (their data) to send for one upstream event.
func (mf *messagesFilter) process(typ string, data []byte) [][]byte {
	mf.out = mf.out[:0]
	if mf.blocked {
		return nil
	}
	ev := gjson.ParseBytes(data)
	i := ev.Get("index").Int()
	switch typ {
	case "content_block_start":
		mf.open = i
		mf.text[i] = ev.Get("content_block.type").Str == "text"
		mf.out = append(mf.out, data)
	case "content_block_delta":
		if !mf.text[i] || ev.Get("delta.type").Str != "text_delta" {
			mf.out = append(mf.out, data)
			break
		}
		chunk := []byte(`{"choices":[{"index":` + strconv.FormatInt(i, 10) + `,"delta":{"content":`)
		chunk = openai.AppendString(chunk, ev.Get("delta.text").Str)
		mf.feed(append(chunk, "}}]}"...))
	case "content_block_stop":
		if mf.text[i] {
			mf.feed([]byte(`{"choices":[{"index":` + strconv.FormatInt(i, 10) + `,"delta":{},"finish_reason":"stop"}]}`))
		}
		if !mf.blocked {
			mf.open = -1
			mf.out = append(mf.out, data)
		}
	default:
		mf.out = append(mf.out, data)
	}
	return mf.out
}

// feed runs one synthetic chunk through the filter and emits the text it
// releases; a block ends the message.
func (mf *messagesFilter) feed(chunk []byte) {
	released, blocked := mf.f.Process(chunk)
	for _, r := range released {
		gjson.GetBytes(r, "choices").ForEach(func(_, ch gjson.Result) bool {
			if t := ch.Get("delta.content"); t.Type == gjson.String && t.Str != "" {
				d := []byte(`{"type":"content_block_delta","index":`)
				d = strconv.AppendInt(d, ch.Get("index").Int(), 10)
				d = append(d, `,"delta":{"type":"text_delta","text":`...)
				d = openai.AppendString(d, t.Str)
				mf.out = append(mf.out, append(d, "}}"...))
			}
			return true
		})
	}
	if !blocked {
		return
	}
	mf.blocked = true
	if mf.open >= 0 {
		mf.out = append(mf.out, []byte(`{"type":"content_block_stop","index":`+strconv.FormatInt(mf.open, 10)+`}`))
	}
	mf.out = append(mf.out,
		[]byte(`{"type":"message_delta","delta":{"stop_reason":"refusal","stop_sequence":null},"usage":{"output_tokens":0}}`),
		[]byte(`{"type":"message_stop"}`))
}

func (mf *messagesFilter) stopped() bool                  { return mf.blocked }
func (mf *messagesFilter) verdicts() []guardrails.Verdict { return mf.f.Verdicts() }
