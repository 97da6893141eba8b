package namenode

// safeMode is the NameNode's read-only state. For now it is entered by an
// operator (dfsadmin -safemode enter) or by a failing edit log; the block
// threshold at start-up comes with the block manager.
type safeMode struct {
	manual    bool
	resources bool   // the edit log failed: low resources
	startup   bool   // waiting for block reports (safemode_startup.go)
	tip       string // the start-up tracker's progress message
}

func (s *safeMode) on() bool { return s.manual || s.resources || s.startup }

// checkSafeMode fails a write while in safe mode, with Hadoop's message.
func (ns *Namespace) checkSafeMode(what string) error {
	if !ns.safe.on() {
		return nil
	}
	reason := "It was turned on manually. Use \"hdfs dfsadmin -safemode leave\" to turn safe mode off."
	if ns.safe.startup && !ns.safe.manual {
		reason = ns.safe.tip
	}
	if ns.safe.resources {
		reason = "Resources are low on NN. Please add or free up more resources then turn off safe mode manually. NOTE:  If you turn off safe mode before adding resources, the NN will immediately return to safe mode. Use \"hdfs dfsadmin -safemode leave\" to turn safe mode off."
	}
	return errorf(ExSafeMode, "%s. Name node is in safe mode.\n%s", what, reason)
}

// SafeModeAction is dfsadmin's -safemode argument.
type SafeModeAction int

// Safe mode actions, as ClientProtocol's SafeModeActionProto.
const (
	SafeModeLeave SafeModeAction = iota
	SafeModeEnter
	SafeModeGet
	SafeModeForceExit
)

// SetSafeMode enters, leaves or reports safe mode; it returns whether the
// NameNode is in safe mode afterwards. Only the superuser may change it.
func (ns *Namespace) SetSafeMode(c *Caller, action SafeModeAction) (bool, error) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	if action != SafeModeGet && !ns.isSuper(c) {
		return false, errorf(ExAccessControl, "Access denied for user %s. Superuser privilege is required", c.User)
	}
	switch action {
	case SafeModeEnter:
		ns.safe.manual = true
	case SafeModeLeave, SafeModeForceExit:
		ns.safe.manual = false
		ns.safe.resources = false
		ns.safe.startup = false
	}
	return ns.safe.on(), nil
}

// InSafeMode tells whether writes are refused.
func (ns *Namespace) InSafeMode() bool {
	ns.mu.RLock()
	defer ns.mu.RUnlock()
	return ns.safe.on()
}

// enterResourceSafeMode is called when the edit log fails.
func (ns *Namespace) enterResourceSafeMode() {
	ns.mu.Lock()
	ns.safe.resources = true
	ns.mu.Unlock()
}
