using SmbLayer.Protocol;
using SmbLayer.Tests.Protocol;
using SmbLayer.Tests.Security;
using SmbLayer.Tests.Transport;
using static SmbLayer.Tests.Protocol.WireTestHelpers;

namespace SmbLayer.Tests.Client;

/// <summary>
/// The hard/soft setting a stream or listing was opened with holds for everything done through it later,
/// whatever async flow (or synchronous Stream method) that is done from. An <see cref="SmbClient"/> talks to a
/// scripted server; the connection is then lost for good, so the call ends by its soft timeout, and the
/// timeout the error names is the one the call ran under. The client's 3 s (or a view's) must be the one,
/// not the library default of 30 s.
/// </summary>
public class CallOptionsTests
{
    private const string User = "alice";
    private const string Domain = "DOM";
    private const string Password = "Secret-1";

    /// <summary>Far less than the default soft timeout (30 s), far more than the <see cref="Soft"/> the calls run under.</summary>
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    /// <summary>
    /// The client's soft timeout in these tests. It also bounds the connection's setup (NEGOTIATE to the first
    /// TREE_CONNECT, JIT included), which took more than 1 s on a loaded CI machine and ended the test before its subject.
    /// </summary>
    private static readonly TimeSpan Soft = TimeSpan.FromSeconds(3);

    private static SmbClient Client(TimeSpan? softTimeout = null)
    {
        var options = new SmbClientOptions
        {
            Credentials = new SmbCredentials(User, Password, Domain),
            MinDialect = SmbDialect.Smb302,
            MaxDialect = SmbDialect.Smb302,
        };
        if (softTimeout is { } soft)
        {
            options.SoftTimeout = soft;
        }
        return new SmbClient(options);
    }

    private static string Url(ScriptedPeer peer, string path) => $"smb://127.0.0.1:{peer.Port}/share/{path}";

    /// <summary>The server's side of the client's first call: connection, NEGOTIATE, SESSION_SETUP, TREE_CONNECT, VALIDATE_NEGOTIATE.</summary>
    private static async Task TakeConnectionAsync(ScriptedPeer peer)
    {
        var server = new ScriptedSmbServer(peer, User, Domain, Password);
        await peer.AcceptAsync();
        await server.NegotiateAsync(SmbDialect.Smb302, SecurityMode.SigningEnabled, GlobalCapabilities.LargeMtu);
        await server.SessionSetupAsync(SmbDialect.Smb302);
        await server.TreeConnectAsync();
        await server.ValidateNegotiateAsync(SmbDialect.Smb302, SecurityMode.SigningEnabled, GlobalCapabilities.LargeMtu);
    }

    /// <summary>Answers a stream's CREATE: a durable handle with a lease.</summary>
    private static async Task ReplyCreateAsync(ScriptedPeer peer)
    {
        var create = await peer.ReadRequestAsync();
        Assert.Equal(Smb2Command.Create, create.Header.Command);
        await peer.ReplyAsync(create, credits: 8, body: HandBuiltResponses.CreateWithContexts()[Smb2Header.Size..]);
    }

    private static async Task<Stream> OpenWriteAsync(ScriptedPeer peer, SmbClient client)
    {
        var opening = client.OpenWriteAsync(Url(peer, "f.bin"));
        await TakeConnectionAsync(peer);
        await ReplyCreateAsync(peer);
        return await opening.WaitAsync(Bound);
    }

    // SetLength and Seek are synchronous Stream methods: they run in the caller's flow, outside any call of the
    // client. With the policy ambient (an AsyncLocal the async methods entered), the requests they sent ran
    // under the library default of 30 s instead of the stream's setting.

    [Fact]
    public async Task SetLength_ConnectionLost_EndsByTheClientsSoftTimeout()
    {
        await using var peer = ScriptedPeer.Listen();
        await using var client = Client(softTimeout: Soft);
        await using var stream = await OpenWriteAsync(peer, client);

        var setLength = Task.Run(() => stream.SetLength(10));
        Assert.Equal(Smb2Command.SetInfo, (await peer.ReadRequestAsync()).Header.Command);
        peer.Abort(); // and the server never comes back

        var error = await Assert.ThrowsAsync<SmbTimeoutException>(() => setLength.WaitAsync(Bound));
        Assert.Contains("soft timeout of 3 s", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Seek_SendsTheBufferedWrite_ConnectionLost_WriteEndsByTheClientsSoftTimeout()
    {
        await using var peer = ScriptedPeer.Listen();
        await using var client = Client(softTimeout: Soft);
        var stream = await OpenWriteAsync(peer, client);

        stream.Write([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]); // buffered: less than a chunk
        await Task.Run(() => stream.Position = 0); // the buffered bytes go out as a WRITE at their own offset
        Assert.Equal(Smb2Command.Write, (await peer.ReadRequestAsync()).Header.Command);
        peer.Abort();

        var error = await Assert.ThrowsAsync<IOException>(() => stream.FlushAsync().WaitAsync(Bound));
        var timeout = Assert.IsType<SmbTimeoutException>(error.InnerException);
        Assert.Contains("soft timeout of 3 s", timeout.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<IOException>(async () => await stream.DisposeAsync()); // as every later use of the stream
    }

    /// <summary>QUERY_DIRECTORY response (MS-SMB2 §2.2.34) with FileDirectoryInformation entries (MS-FSCC §2.4.10) for <paramref name="names"/>.</summary>
    private static byte[] DirectoryBody(params string[] names)
    {
        var entries = new Le();
        for (var i = 0; i < names.Length; i++)
        {
            var name = System.Text.Encoding.Unicode.GetBytes(names[i]);
            var size = (64 + name.Length + 7) & ~7;
            entries.U32(i == names.Length - 1 ? 0u : (uint)size).U32(0).Zeros(32).U64(100).U64(4096).U32((uint)FileAttributes.Archive)
                .U32((uint)name.Length).Raw(name).PadTo8();
        }
        var buffer = entries.ToArray();
        return new Le().U16(9).U16(Smb2Header.Size + 8).U32((uint)buffer.Length).Raw(buffer).ToArray();
    }

    [Fact]
    public async Task Listing_OfASoftView_EachStepFromAnotherFlow_ServerCallsEndByTheViewsSoftTimeout()
    {
        await using var peer = ScriptedPeer.Listen();
        await using var client = Client(); // the default, 30 s
        var view = client.WithFailureMode(SmbFailureMode.Soft, Soft);

        // Made here, stepped from other flows: every MoveNextAsync runs in its caller's flow. (The ambient policy got
        // this right only because the iterator entered it again before every server call that followed a yield.)
        var entries = view.ListAsync(Url(peer, "dir")).GetAsyncEnumerator();
        await using var _ = entries;
        var first = Task.Run(async () => await entries.MoveNextAsync());
        await TakeConnectionAsync(peer);
        var create = await peer.ReadRequestAsync();
        Assert.Equal(Smb2Command.Create, create.Header.Command);
        var createBody = new byte[89]; // no contexts
        createBody[0] = 89;
        await peer.ReplyAsync(create, credits: 8, body: createBody);
        var query = await peer.ReadRequestAsync();
        Assert.Equal(Smb2Command.QueryDirectory, query.Header.Command);
        await peer.ReplyAsync(query, credits: 32, body: DirectoryBody("a", "b"));
        Assert.True(await first.WaitAsync(Bound));
        Assert.Equal("a", entries.Current.Name);
        Assert.True(await Task.Run(async () => await entries.MoveNextAsync()).WaitAsync(Bound));
        Assert.Equal("b", entries.Current.Name);

        var third = Task.Run(async () => await entries.MoveNextAsync()); // asks the server for more
        Assert.Equal(Smb2Command.QueryDirectory, (await peer.ReadRequestAsync()).Header.Command);
        peer.Abort();
        var error = await Assert.ThrowsAsync<SmbTimeoutException>(() => third.WaitAsync(Bound));
        Assert.Contains("soft timeout of 3 s", error.Message, StringComparison.Ordinal);
    }
}
