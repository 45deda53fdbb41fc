package secret_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"

	"github.com/keyward/keyward/secret"
)

func Example() {
	token := secret.FromString("sk_live_51HxQ…")
	defer token.Wipe()

	fmt.Println(token)
	fmt.Printf("%+v\n", struct {
		User  string
		Token secret.Bytes
	}{"ada", token})

	js, _ := json.Marshal(map[string]secret.Bytes{"token": token})
	fmt.Println(string(js))

	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{} // keep the example's output stable
			}
			return a
		},
	}))
	logger.Info("connected", "token", token)

	// The one way to the bytes, explicit and easy to grep for:
	fmt.Println(len(token.Reveal()) == token.Len())
	// Output:
	// [REDACTED]
	// {User:ada Token:[REDACTED]}
	// {"token":"[REDACTED]"}
	// level=INFO msg=connected token=[REDACTED]
	// true
}
