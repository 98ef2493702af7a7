package web

// routes registers every route vaultpage serves, grouped by who may call it.
func (s *Server) routes() {
	e := s.echo

	// Operations: load balancers and orchestrators.
	e.GET("/healthz", s.healthz).Name = "healthz"
	e.GET("/readyz", s.readyz).Name = "readyz"
}
