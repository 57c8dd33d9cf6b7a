// The seed's "user dashboard" handler (../shared/seed, "Request Aggregation"), as the user's
// starting point for the aggregate rows of bench.py: three goroutines, a mutex, a WaitGroup,
// and a 500 when any call fails. Only what the benchmark needs differs from the seed: the
// services' address comes from -backend, the listener from -listen, gin runs in release mode
// without its logger (Portico's access log is off in the same rows), and the default HTTP
// transport keeps up to 256 idle connections per host instead of 2, so that the run measures
// the handler rather than ephemeral-port churn.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"sync"

	"github.com/gin-gonic/gin"
)

type User struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

type Order struct {
	ID     int `json:"id"`
	UserID int `json:"user_id"`
}

type Profile struct {
	Bio string `json:"bio"`
}

type UserDashboard struct {
	User    *User    `json:"user"`
	Orders  []Order  `json:"orders"`
	Profile *Profile `json:"profile"`
}

var backend string

func fetchJSON(ctx context.Context, url string, into interface{}) error {
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(into)
}

func GetUserDashboard(c *gin.Context) {
	userID := c.Param("id")
	ctx := c.Request.Context()

	var wg sync.WaitGroup
	var mu sync.Mutex

	dashboard := &UserDashboard{}
	var errors []error

	wg.Add(1)
	go func() {
		defer wg.Done()
		var user User
		err := fetchJSON(ctx, backend+"/agg/users/"+userID, &user)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errors = append(errors, err)
		} else {
			dashboard.User = &user
		}
	}()

	wg.Add(1)
	go func() {
		defer wg.Done()
		var orders []Order
		err := fetchJSON(ctx, backend+"/agg/orders?user_id="+userID, &orders)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errors = append(errors, err)
		} else {
			dashboard.Orders = orders
		}
	}()

	wg.Add(1)
	go func() {
		defer wg.Done()
		var profile Profile
		err := fetchJSON(ctx, backend+"/agg/profiles/"+userID, &profile)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errors = append(errors, err)
		} else {
			dashboard.Profile = &profile
		}
	}()

	wg.Wait()

	if len(errors) > 0 {
		c.JSON(500, gin.H{"errors": fmt.Sprint(errors)})
		return
	}
	c.JSON(200, dashboard)
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to listen on")
	flag.StringVar(&backend, "backend", "http://127.0.0.1:8081", "the services' base URL")
	flag.Parse()
	http.DefaultTransport.(*http.Transport).MaxIdleConnsPerHost = 256
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET("/dashboard/:id", GetUserDashboard)
	if err := r.Run(*listen); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
