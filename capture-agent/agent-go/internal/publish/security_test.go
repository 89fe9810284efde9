package publish

import "testing"

func TestSASLMechanismNamesAsKafka(t *testing.T) {
	for value, name := range map[string]string{"plain": "PLAIN", "scram-sha-256": "SCRAM-SHA-256", "scram-sha-512": "SCRAM-SHA-512"} {
		m, err := SASLMechanism(value, "u", "p")
		if err != nil || m.Name() != name {
			t.Errorf("%s: %v %v", value, m, err)
		}
	}
	if _, err := SASLMechanism("oauthbearer", "u", "p"); err == nil {
		t.Error("oauthbearer accepted")
	}
}
