using System.Net.Sockets;

namespace SmbLayer.IntegrationTests.Faults;

/// <summary>How the test proxies reset a connection: close with linger 0, so the peer gets an RST.</summary>
internal static class SocketAbort
{
    public static void Reset(params Socket[] sockets)
    {
        foreach (var s in sockets)
        {
            try
            {
                s.LingerState = new LingerOption(true, 0);
                s.Close();
            }
            catch (Exception)
            {
                // Already closed.
            }
        }
    }
}
