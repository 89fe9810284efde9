package framing

import (
	"strings"
	"testing"
)

func TestBatchesEndAtAnEmptyLine(t *testing.T) {
	f := New(DefaultLimits)
	frames := f.Push([]byte("a\r\nb\n\n \n\nc"))
	if len(frames) != 1 || strings.Join(frames[0].Lines, "|") != "a|b" {
		t.Fatalf("frames %+v", frames)
	}
	frames = f.Push([]byte("\n\n"))
	if len(frames) != 1 || strings.Join(frames[0].Lines, "|") != "c" {
		t.Fatalf("frames %+v", frames)
	}
}

func TestBytesArriveInPieces(t *testing.T) {
	f := New(DefaultLimits)
	var got []Frame
	for _, b := range []byte("{\"x\":1}\n\n") {
		got = append(got, f.Push([]byte{b})...)
	}
	if len(got) != 1 || got[0].Lines[0] != `{"x":1}` {
		t.Fatalf("frames %+v", got)
	}
}

func TestALongLineRefusesItsBatchAtOnceAndDropsTheRest(t *testing.T) {
	f := New(Limits{MaxLineBytes: 4, MaxBatchLines: 10, MaxBatchBytes: 100})
	frames := f.Push([]byte("ok\n123456"))
	if len(frames) != 1 || frames[0].Refused == nil || frames[0].Refused.Reason != ReasonLimit || frames[0].Refused.Report.Issues[0].Line != 2 {
		t.Fatalf("frames %+v", frames)
	}
	frames = f.Push([]byte("789\nmore\n\nnext\n\n"))
	if len(frames) != 1 || frames[0].Lines[0] != "next" {
		t.Fatalf("the next batch: %+v", frames)
	}
}

func TestLineAndByteLimitsPerBatch(t *testing.T) {
	f := New(Limits{MaxLineBytes: 100, MaxBatchLines: 2, MaxBatchBytes: 100})
	if fr := f.Push([]byte("a\nb\nc\n\n")); len(fr) != 1 || fr[0].Refused == nil || fr[0].Refused.Report.Issues[0].Line != 3 {
		t.Fatalf("frames %+v", fr)
	}
	f = New(Limits{MaxLineBytes: 100, MaxBatchLines: 10, MaxBatchBytes: 5})
	if fr := f.Push([]byte("abc\ndef\n\n")); len(fr) != 1 || fr[0].Refused == nil || fr[0].Refused.Report.Issues[0].Line != 2 {
		t.Fatalf("frames %+v", fr)
	}
}

func TestInvalidUTF8RefusesTheBatchAtItsEnd(t *testing.T) {
	f := New(DefaultLimits)
	frames := f.Push([]byte("ok\n\xff\xfe\nok\n\n"))
	if len(frames) != 1 || frames[0].Refused == nil || frames[0].Refused.Reason != ReasonUTF8 || frames[0].Refused.Lines != 3 || frames[0].Refused.Report.Issues[0].Line != 2 {
		t.Fatalf("frames %+v", frames)
	}
}
