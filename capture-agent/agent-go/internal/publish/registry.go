package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/provml/provml/capture-agent/agent-go/internal/capture"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// registerSchema registers CaptureEvent v2 under the subject with a Confluent-compatible schema
// registry and returns its id (log/src/kafka/RegistryEventCodec.ts).
func registerSchema(ctx context.Context, url, subject string) (uint32, error) {
	body, _ := json.Marshal(map[string]string{"schema": capture.SchemaText, "schemaType": "AVRO"})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		strings.TrimSuffix(url, "/")+"/subjects/"+subject+"/versions", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("cannot register the event schema: %w", err)
	}
	defer res.Body.Close()
	text, _ := io.ReadAll(io.LimitReader(res.Body, 1<<16))
	if res.StatusCode/100 != 2 {
		return 0, fmt.Errorf("cannot register the event schema: %s: %s", res.Status, text)
	}
	var answer struct {
		ID uint32 `json:"id"`
	}
	if err := json.Unmarshal(text, &answer); err != nil {
		return 0, fmt.Errorf("cannot register the event schema: %w", err)
	}
	return answer.ID, nil
}
