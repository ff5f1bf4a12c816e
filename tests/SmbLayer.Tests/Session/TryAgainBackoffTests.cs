using SmbLayer.Session;

namespace SmbLayer.Tests.Session;

/// <summary>The waits between "try again" answers, exactly as docs/SEMANTICS.md ("Try again") gives them.</summary>
public class TryAgainBackoffTests
{
    [Fact]
    public void Doubles_From50ms_CappedAt1s()
    {
        var backoff = new TryAgainBackoff();
        var waits = Enumerable.Range(0, 10).Select(_ => (int)backoff.Next().TotalMilliseconds).ToArray();
        // The cap is the point: a client that backs off further (NFSv4's 30 s on NFS4ERR_DELAY) idles long after the
        // server is ready, and a hard call waiting on a replayed CREATE would look hung.
        Assert.Equal([50, 100, 200, 400, 800, 1000, 1000, 1000, 1000, 1000], waits);
    }
}
