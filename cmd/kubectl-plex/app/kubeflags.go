package app

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
)

// kubectlFlagsHelp is the root help's word on kubectl's flags.
const kubectlFlagsHelp = `Of kubectl's own flags, plex takes --kubeconfig only, and only on the verbs
that write or remove context plex-NAME in it: up, join, down, and kubeconfig
--merge. Where the other verbs talk to Kubernetes (status, drain, fluxstrap),
they use the admin kubeconfig on the plex's control-plane node, found through
Incus, so kubectl's --context, --server, --user, --namespace and the like
would change nothing: plex does not accept them. Name the plex instead;
context plex-NAME is plex NAME.`

// addKubeconfigFlag registers kubectl's --kubeconfig (the one of
// genericclioptions.ConfigFlags that plex reads) on a verb that writes or
// removes a plex's context, saying what the verb does with the file.
func addKubeconfigFlag(cmd *cobra.Command, path *string, usage string) {
	kf := &genericclioptions.ConfigFlags{KubeConfig: path}
	kf.AddFlags(cmd.Flags())
	cmd.Flags().Lookup("kubeconfig").Usage = usage + " (default: the first file of $KUBECONFIG, else ~/.kube/config)"
}

// explainFlagError adds, to cobra's "unknown flag" error for one of kubectl's
// flags, why plex does not take it and what to do instead.
func explainFlagError(cmd *cobra.Command, err error) error {
	name, ok := unknownFlag(err.Error())
	if !ok || !isKubectlFlag(name) {
		return err
	}
	verb := cmd.Name()
	readers := kubeconfigReaders(cmd.Root())
	if name == "kubeconfig" {
		return fmt.Errorf("%w: %s reads no kubeconfig file (where plex talks to Kubernetes, it uses the admin kubeconfig on the plex's control-plane node); --kubeconfig is for %s, which write or remove context plex-NAME in it: drop it here",
			err, verb, strings.Join(readers, ", "))
	}
	return fmt.Errorf("%w: kubectl plex takes none of kubectl's connection flags but --kubeconfig (on %s): every verb finds a plex through Incus and, where it talks to Kubernetes, uses the admin kubeconfig on the plex's control-plane node. Name the plex instead (context plex-NAME is plex NAME), and give -f FILE or --remote for a plex on another Incus remote",
		err, strings.Join(readers, ", "))
}

// unknownFlag returns the name of the flag in pflag's "unknown flag: --name"
// or "unknown shorthand flag: 'n' in -n" error.
func unknownFlag(msg string) (string, bool) {
	if rest, ok := strings.CutPrefix(msg, "unknown flag: --"); ok {
		name, _, _ := strings.Cut(rest, "=")
		return name, true
	}
	if rest, ok := strings.CutPrefix(msg, "unknown shorthand flag: '"); ok && len(rest) > 0 {
		return rest[:1], true
	}
	return "", false
}

// isKubectlFlag tells whether name (or shorthand) is one of kubectl's
// connection flags, as genericclioptions defines them.
func isKubectlFlag(name string) bool {
	fs := (&cobra.Command{}).Flags()
	genericclioptions.NewConfigFlags(true).AddFlags(fs)
	if len(name) == 1 {
		return fs.ShorthandLookup(name) != nil
	}
	return fs.Lookup(name) != nil
}

// kubeconfigReaders are the verbs that take --kubeconfig.
func kubeconfigReaders(root *cobra.Command) []string {
	var out []string
	for _, c := range root.Commands() {
		if c.Flags().Lookup("kubeconfig") != nil {
			out = append(out, c.Name())
		}
	}
	sort.Strings(out)
	return out
}
