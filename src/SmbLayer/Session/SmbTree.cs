using Microsoft.Extensions.Logging;
using SmbLayer.Protocol;
using SmbLayer.Transport;

namespace SmbLayer.Session;

/// <summary>A connected share (MS-SMB2 §3.2.4.2.4) and the file operations on it.</summary>
internal sealed partial class SmbTree : IAsyncDisposable
{
    private readonly ILogger _logger;
    private int _disconnected;

    private SmbTree(SmbSession session, string share, uint treeId, TreeConnectResponse response, BreakDispatcher? breaks, ILogger logger)
    {
        Breaks = breaks;
        Session = session;
        Share = share;
        TreeId = treeId;
        ShareType = response.ShareType;
        ShareFlags = response.ShareFlags;
        EncryptData = session.EncryptData || response.EncryptData;
        _logger = logger;
    }

    /// <summary>Requests on this tree go encrypted: the session encrypts, or the share requires it (SMB2_SHAREFLAG_ENCRYPT_DATA).</summary>
    public bool EncryptData { get; }

    public SmbSession Session { get; }

    /// <summary>Where opens holding an oplock or lease register for break notifications.</summary>
    public BreakDispatcher? Breaks { get; }
    public SmbConnection Connection => Session.Connection;
    public string Share { get; }
    public uint TreeId { get; }
    public ShareType ShareType { get; }
    public ShareFlags ShareFlags { get; }

    /// <summary>Context for requests on this tree.</summary>
    public RequestContext Context => Session.Context(TreeId, EncryptData);

    public static async Task<SmbTree> ConnectAsync(SmbSession session, string host, string share, BreakDispatcher? breaks,
        ILoggerFactory loggerFactory, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(share))
        {
            throw new ArgumentException("No share name given.", nameof(share));
        }
        var path = $@"\\{host}\{share}";
        using var response = await session.Connection.SendAsync(new TreeConnectRequest(path), session.TreeConnectContext(), cancellationToken).ConfigureAwait(false);
        response.ThrowIfFailed($"Connecting to share '{share}' on {host}");
        var parsed = TreeConnectResponse.Parse(response.Message);
        var logger = loggerFactory.CreateLogger<SmbTree>();
        if (parsed.EncryptData && !session.CanEncrypt)
        {
            // MS-SMB2 §3.2.5.5: a share that requires encryption is unusable without cipher keys.
            throw new SmbSecurityException($"Share '{share}' on {host} requires encryption, but this session cannot encrypt " +
                $"(dialect {session.Connection.Negotiated?.Dialect.ToDisplay()}, {(session.IsGuest ? "guest session" : "no common cipher")}).");
        }
        var tree = new SmbTree(session, share, response.Header.TreeId, parsed, breaks, logger);
        logger.LogDebug("Tree 0x{TreeId:X} connected to {Path} (encryption {Encryption})", tree.TreeId, path, tree.EncryptData ? "on" : "off");
        await NegotiateValidation.ValidateIfNeededAsync(tree, logger, cancellationToken).ConfigureAwait(false);
        return tree;
    }

    /// <summary>
    /// Opens or creates a file or directory. If the caller gives up (cancellation) and the
    /// server's success arrives anyway, the handle it opened is closed (DESIGN §4).
    /// </summary>
    public async Task<SmbOpen> CreateAsync(CreateRequest request, CancellationToken cancellationToken)
    {
        var plain = Context;
        var context = new RequestContext
        {
            SessionId = plain.SessionId,
            TreeId = plain.TreeId,
            Signer = plain.Signer,
            Transform = plain.Transform,
            OnAbandonedResponse = CloseAbandoned,
        };
        using var response = await Connection.SendAsync(request, context, cancellationToken).ConfigureAwait(false);
        response.ThrowIfFailed(OpenWhat(request.Name));
        var parsed = CreateResponse.Parse(response.Message);
        return new SmbOpen(this, request.Name, parsed);
    }

    private string OpenWhat(string name) => $"Opening '{(name.Length == 0 ? "\\" : name)}' on share '{Share}'";

    private void CloseAbandoned(SmbResponse response)
    {
        Smb2FileId fileId;
        try
        {
            fileId = CreateResponse.Parse(response.Message).FileId;
        }
        catch (SmbProtocolException)
        {
            return;
        }
        _ = CloseQuietlyAsync(fileId);
    }

    /// <summary>Closes a handle nobody holds any more; failures are logged, not thrown.</summary>
    internal async Task CloseQuietlyAsync(Smb2FileId fileId)
    {
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            using var r = await Connection.SendAsync(new CloseRequest(fileId), Context, cts.Token).ConfigureAwait(false);
            _logger.LogDebug("Closed abandoned handle {FileId}: {Status}", fileId, r.Status);
        }
        catch (Exception ex) when (ex is SmbException or OperationCanceledException)
        {
            _logger.LogDebug("Closing abandoned handle {FileId} failed: {Reason}", fileId, ex.Message);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disconnected, 1) != 0)
        {
            return;
        }
        try
        {
            if (Connection.State == ConnectionState.Ready)
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                using var response = await Connection.SendAsync(new TreeDisconnectRequest(), Context, cts.Token).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is SmbException or OperationCanceledException)
        {
            _logger.LogDebug("TREE_DISCONNECT of {Share} failed: {Reason}", Share, ex.Message);
        }
    }
}
