module steward/bench/peers/go/db

go 1.19
