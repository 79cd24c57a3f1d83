"""Cost attribution per task: the money shape (`money`), the cost record (`model`) and
its pure computation from requests x run time and provider usage (`compute`)."""
